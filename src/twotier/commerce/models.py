"""The catalog (products → SKUs → offers with per-country prices), orders that a provider
submits on behalf of a customer, the subscriptions they create, and license seats."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from twotier.kit.clock import utcnow
from twotier.kit.db import Base, IdMixin, Money, TimestampMixin, str_enum
from twotier.kit.states import Machine


class Product(IdMixin, Base):
    __tablename__ = "products"
    __table_args__ = (Index("ix_products_created", "created_at", "id"),)

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)


class Sku(IdMixin, Base):
    __tablename__ = "skus"

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    unit: Mapped[str] = mapped_column(String(30), nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)


class OfferStatus(StrEnum):
    active = "active"
    retired = "retired"


# Retiring an offer is final: existing subscriptions keep it, nobody buys it again.
OFFER = Machine("offer", {OfferStatus.active: {OfferStatus.retired}})


class Offer(IdMixin, Base):
    """How a SKU is sold: billing cycle, term, quantity limits and a cancellation window."""

    __tablename__ = "offers"
    __table_args__ = (Index("ix_offers_created", "created_at", "id"),)

    sku_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("skus.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    billing_cycle: Mapped[str] = mapped_column(String(20), nullable=False)  # monthly | annual
    term: Mapped[str] = mapped_column(String(10), nullable=False)  # ISO 8601: P1M | P1Y
    cancellation_window_days: Mapped[int] = mapped_column(nullable=False, default=7)
    min_quantity: Mapped[int] = mapped_column(nullable=False, default=1)
    max_quantity: Mapped[int] = mapped_column(nullable=False, default=10000)
    status: Mapped[OfferStatus] = mapped_column(
        str_enum(OfferStatus, 20), nullable=False, default=OfferStatus.active
    )
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)


class OfferPrice(IdMixin, Base):
    __tablename__ = "offer_prices"
    __table_args__ = (
        UniqueConstraint("offer_id", "country"),
        Index("ix_offer_prices_country", "country", "offer_id"),
    )

    offer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("offers.id", ondelete="CASCADE"), nullable=False
    )
    country: Mapped[str] = mapped_column(String(2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    unit_price: Mapped[Decimal] = mapped_column(Money(), nullable=False)


class OrderStatus(StrEnum):
    completed = "completed"  # every line became a subscription


class Order(IdMixin, Base):
    """Submitted by a provider on behalf of a customer; one subscription per line."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_customer", "customer_tenant_id", "created_at", "id"),)

    customer_tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    provider_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partner_accounts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    status: Mapped[OrderStatus] = mapped_column(
        str_enum(OrderStatus, 20), nullable=False, default=OrderStatus.completed
    )
    created_by_user_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    attestation_accepted_at: Mapped[datetime] = mapped_column(nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)


class OrderLine(IdMixin, Base):
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "line_number"),)

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    line_number: Mapped[int] = mapped_column(nullable=False)
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offers.id"), nullable=False)
    quantity: Mapped[int] = mapped_column(nullable=False)
    # The indirect reseller of record (Partner Center's PartnerIdOnRecord).
    reseller_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partner_accounts.id"), nullable=False
    )
    unit_price: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    subscription_id: Mapped[uuid.UUID] = mapped_column(nullable=False)


class SubscriptionStatus(StrEnum):
    active = "active"
    suspended = "suspended"
    cancelled = "cancelled"


# active ⇄ suspended → cancelled (within the cancellation window, or at the end of a term
# without auto-renew); quantity changes keep the state.
SUBSCRIPTION = Machine(
    "subscription",
    {
        SubscriptionStatus.active: {SubscriptionStatus.suspended, SubscriptionStatus.cancelled},
        SubscriptionStatus.suspended: {SubscriptionStatus.active, SubscriptionStatus.cancelled},
    },
)


class Subscription(IdMixin, TimestampMixin, Base):
    """What a customer bought: an offer, a quantity, a state. ``version`` is the ETag."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_customer", "customer_tenant_id", "created_at", "id"),
        Index("ix_subscriptions_provider", "provider_account_id", "customer_tenant_id"),
        Index("ix_subscriptions_reseller", "reseller_account_id", "customer_tenant_id"),
        # The renewal job's scan: terms that have ended.
        Index("ix_subscriptions_term_end", "term_ends_at"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    customer_tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True
    )
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offers.id"), nullable=False)
    sku_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("skus.id"), nullable=False)
    provider_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partner_accounts.id"), nullable=False
    )
    reseller_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partner_accounts.id"), nullable=False
    )
    quantity: Mapped[int] = mapped_column(nullable=False)
    status: Mapped[SubscriptionStatus] = mapped_column(
        str_enum(SubscriptionStatus, 20), nullable=False, default=SubscriptionStatus.active
    )
    auto_renew: Mapped[bool] = mapped_column(nullable=False, default=True)
    unit_price: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    term_ends_at: Mapped[datetime] = mapped_column(nullable=False)
    cancellable_until: Mapped[datetime] = mapped_column(nullable=False)
    suspended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    version: Mapped[int] = mapped_column(nullable=False, default=1)


class SeatPool(IdMixin, Base):
    """Seats of one SKU in one customer tenant: ``total`` is the quantity of its active
    subscriptions, ``assigned`` the licenses handed out. Both move by conditional UPDATEs,
    so two concurrent assignments cannot take the same last seat."""

    __tablename__ = "seat_pools"
    __table_args__ = (UniqueConstraint("customer_tenant_id", "sku_id"),)

    customer_tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    sku_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("skus.id"), nullable=False)
    total: Mapped[int] = mapped_column(nullable=False, default=0)
    assigned: Mapped[int] = mapped_column(nullable=False, default=0)


class LicenseAssignment(IdMixin, Base):
    __tablename__ = "license_assignments"
    __table_args__ = (
        UniqueConstraint("user_id", "sku_id"),
        Index("ix_license_assignments_tenant_sku", "customer_tenant_id", "sku_id"),
    )

    customer_tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    sku_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("skus.id"), nullable=False)
    assigned_by_user_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    assigned_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
