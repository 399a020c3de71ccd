"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from twotier.access.models import DelegatedAccessGrant
from twotier.audit.models import AuditChainHead, AuditRecord
from twotier.channel.models import ResellerLink
from twotier.commerce.models import (
    LicenseAssignment,
    Offer,
    OfferPrice,
    Order,
    OrderLine,
    Product,
    SeatPool,
    Sku,
    Subscription,
)
from twotier.customers.models import CustomerRelationship
from twotier.directory.models import AccessToken, PartnerAccount, PartnerProgram, Tenant, User
from twotier.enrollment.models import Enrollment, EnrollmentVerification
from twotier.events.models import Event
from twotier.invitations.models import Invitation
from twotier.kit.db import Base
from twotier.kit.idempotency import IdempotencyKey
from twotier.kit.outbox import OutboxMessage
from twotier.kit.ratelimit import RateLimitCounter
from twotier.mail.models import MailboxMessage
from twotier.membership.models import MembershipAccount, MembershipOrganization
from twotier.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "AccessToken",
    "AuditChainHead",
    "AuditRecord",
    "Base",
    "CustomerRelationship",
    "DelegatedAccessGrant",
    "Enrollment",
    "EnrollmentVerification",
    "Event",
    "IdempotencyKey",
    "Invitation",
    "LicenseAssignment",
    "MailboxMessage",
    "MembershipAccount",
    "MembershipOrganization",
    "Offer",
    "OfferPrice",
    "Order",
    "OrderLine",
    "OutboxMessage",
    "PartnerAccount",
    "PartnerProgram",
    "Product",
    "RateLimitCounter",
    "ResellerLink",
    "SeatPool",
    "Sku",
    "Subscription",
    "Tenant",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
