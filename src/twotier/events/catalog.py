"""The event catalog: every event type a webhook may subscribe to, documented.

Each event names the resource it is about (type, id, API path), who caused it (actor, the
actor's partner ID) and, for a partner acting in a customer's tenant, the customer. The
audience is the set of tenants concerned; only their webhooks receive the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EventType(StrEnum):
    """Every event type; ``CATALOG`` documents each (a test keeps the two in step)."""

    enrollment_submitted = "enrollment_submitted"
    enrollment_verified = "enrollment_verified"
    enrollment_approved = "enrollment_approved"
    enrollment_rejected = "enrollment_rejected"
    reseller_invitation_created = "reseller_invitation_created"
    reseller_invitation_accepted = "reseller_invitation_accepted"
    reseller_invitation_revoked = "reseller_invitation_revoked"
    link_created = "link_created"
    link_terminated = "link_terminated"
    customer_invitation_created = "customer_invitation_created"
    customer_invitation_accepted = "customer_invitation_accepted"
    customer_invitation_revoked = "customer_invitation_revoked"
    relationship_created = "relationship_created"
    relationship_ended = "relationship_ended"
    delegated_access_granted = "delegated_access_granted"
    delegated_access_updated = "delegated_access_updated"
    delegated_access_revoked = "delegated_access_revoked"
    delegated_access_extended = "delegated_access_extended"
    order_created = "order_created"
    subscription_created = "subscription_created"
    subscription_updated = "subscription_updated"
    license_assigned = "license_assigned"
    license_unassigned = "license_unassigned"
    webhook_test = "webhook_test"


@dataclass(frozen=True)
class EventSpec:
    type: EventType
    group: str
    resource_type: str
    description: str
    audience: str


CATALOG: tuple[EventSpec, ...] = (
    EventSpec(
        EventType.enrollment_submitted,
        "enrollment",
        "enrollment",
        "A tenant submitted an enrollment; the primary contact must confirm their email.",
        "the enrolling tenant",
    ),
    EventSpec(
        EventType.enrollment_verified,
        "enrollment",
        "enrollment",
        "The primary contact confirmed their email; the enrollment waits for review.",
        "the enrolling tenant, the operator",
    ),
    EventSpec(
        EventType.enrollment_approved,
        "enrollment",
        "enrollment",
        "The operator approved an enrollment; the partner account is in the program.",
        "the enrolling tenant, the operator",
    ),
    EventSpec(
        EventType.enrollment_rejected,
        "enrollment",
        "enrollment",
        "The operator rejected an enrollment (data.reason says why).",
        "the enrolling tenant, the operator",
    ),
    EventSpec(
        EventType.reseller_invitation_created,
        "invitation",
        "invitation",
        "An indirect provider created an invitation for a reseller to authorize it.",
        "the provider",
    ),
    EventSpec(
        EventType.reseller_invitation_accepted,
        "invitation",
        "invitation",
        "A reseller accepted a provider's invitation (a link_created event follows).",
        "the provider, the reseller",
    ),
    EventSpec(
        EventType.reseller_invitation_revoked,
        "invitation",
        "invitation",
        "The provider revoked a pending reseller invitation.",
        "the provider",
    ),
    EventSpec(
        EventType.link_created,
        "link",
        "reseller_link",
        "A reseller authorized an indirect provider: the two are linked.",
        "the provider, the reseller",
    ),
    EventSpec(
        EventType.link_terminated,
        "link",
        "reseller_link",
        "The provider or the reseller ended their link (data.ended_by).",
        "the provider, the reseller",
    ),
    EventSpec(
        EventType.customer_invitation_created,
        "invitation",
        "invitation",
        "A reseller invited a customer to a relationship (with its provider when two-tier).",
        "the reseller, the provider when two-tier",
    ),
    EventSpec(
        EventType.customer_invitation_accepted,
        "invitation",
        "invitation",
        "A customer accepted an invitation (relationship_created events follow).",
        "the reseller, the provider when two-tier, the customer",
    ),
    EventSpec(
        EventType.customer_invitation_revoked,
        "invitation",
        "invitation",
        "The reseller revoked a pending customer invitation.",
        "the reseller, the provider when two-tier",
    ),
    EventSpec(
        EventType.relationship_created,
        "relationship",
        "customer_relationship",
        "A partner now has a reseller relationship with a customer.",
        "the partner, the other tier when two-tier, the customer",
    ),
    EventSpec(
        EventType.relationship_ended,
        "relationship",
        "customer_relationship",
        "A reseller relationship ended, by the partner or the customer (data.by).",
        "the partner, the other tier when two-tier, the customer",
    ),
    EventSpec(
        EventType.delegated_access_granted,
        "delegated_access",
        "delegated_access_grant",
        "A tenant granted a partner admin roles in its directory until a date.",
        "the partner, the granting tenant",
    ),
    EventSpec(
        EventType.delegated_access_updated,
        "delegated_access",
        "delegated_access_grant",
        "A partner gave back some of the roles of a grant (data.roles holds what is left).",
        "the partner, the granting tenant",
    ),
    EventSpec(
        EventType.delegated_access_revoked,
        "delegated_access",
        "delegated_access_grant",
        "A grant ended before its expiry (relationship or link ended, or no roles left).",
        "the partner, the granting tenant",
    ),
    EventSpec(
        EventType.delegated_access_extended,
        "delegated_access",
        "delegated_access_grant",
        "The customer approved a partner's request to extend a grant (data.expires_at).",
        "the partner, the granting tenant",
    ),
    EventSpec(
        EventType.order_created,
        "order",
        "order",
        "A provider submitted an order on behalf of a customer.",
        "the provider, the reseller of record, the customer",
    ),
    EventSpec(
        EventType.subscription_created,
        "subscription",
        "subscription",
        "An order created a subscription.",
        "the provider, the reseller of record, the customer",
    ),
    EventSpec(
        EventType.subscription_updated,
        "subscription",
        "subscription",
        "A subscription's quantity, status or auto-renewal changed.",
        "the provider, the reseller of record, the customer",
    ),
    EventSpec(
        EventType.license_assigned,
        "license",
        "license",
        "A license was assigned to a customer's user.",
        "the provider, the reseller of record, the customer",
    ),
    EventSpec(
        EventType.license_unassigned,
        "license",
        "license",
        "A license was taken back from a customer's user.",
        "the provider, the reseller of record, the customer",
    ),
)

# Sent only by POST /api/v1/webhooks/{id}/test, to that endpoint; no subscription needed.
TEST_EVENT = EventSpec(
    EventType.webhook_test,
    "webhook",
    "webhook_endpoint",
    "A test message sent on request to one endpoint.",
    "the endpoint's tenant",
)

SUBSCRIBABLE = frozenset(e.type for e in CATALOG)
