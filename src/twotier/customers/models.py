from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from twotier.kit.clock import utcnow
from twotier.kit.db import Base, IdMixin, str_enum
from twotier.kit.states import Machine


class RelationshipKind(StrEnum):
    direct = "direct"  # the reseller alone ("Request a reseller relationship")
    two_tier = "two_tier"  # the reseller and its provider ("Invite new customer")


class Tier(StrEnum):
    reseller = "reseller"
    provider = "provider"


class RelationshipStatus(StrEnum):
    active = "active"
    terminated = "terminated"


class EndedBy(StrEnum):
    customer = "customer"  # the customer removed the partner
    partner = "partner"  # the partner ended the relationship


# Either side ends a relationship; a new acceptance creates a new one.
RELATIONSHIP = Machine(
    "customer relationship", {RelationshipStatus.active: {RelationshipStatus.terminated}}
)


# Byte order (PostgreSQL's "C" collation, SQLite's BINARY), so that a prefix is a range of
# an index whatever the database's collation: see ``prefix_range``.
SearchKey = String(253).with_variant(String(253, collation="C"), "postgresql")


def search_key(text: str) -> str:
    """How a customer's name or domain is kept for prefix search: stripped, lower case."""
    return text.strip().lower()


def prefix_range(prefix: str) -> tuple[str, str | None]:
    """The keys that start with ``prefix``, exactly, as [low, high) in code point order:
    high is the prefix with its last character that has a successor (after dropping any
    trailing U+10FFFF) incremented; None when there is none — then [low, ...) is exact,
    since nothing sorts after a run of the last code point but its continuations."""
    key = search_key(prefix)
    stem = key.rstrip(chr(0x10FFFF))
    return key, (stem[:-1] + chr(ord(stem[-1]) + 1)) if stem else None


class CustomerRelationship(IdMixin, Base):
    """A partner's reseller relationship with a customer tenant.

    A two-tier acceptance creates two rows, one for the reseller and one for the provider;
    each names the other tier, the reseller being the provider's partner on record.
    """

    __tablename__ = "customer_relationships"
    __table_args__ = (
        Index("ix_relationships_partner", "partner_account_id", "status", "created_at", "id"),
        Index("ix_relationships_customer", "customer_tenant_id", "status"),
        Index("ix_relationships_other_tier", "other_tier_account_id", "status"),
        # The customers a partner shares with one other tier, in list order: the plan that
        # fits every partner, so a generic (prepared) plan is the right one too.
        Index(
            "ix_relationships_shared",
            "partner_account_id",
            "other_tier_account_id",
            "status",
            "created_at",
            "id",
        ),
        # q=: a case-insensitive prefix of the customer's name or domain, per partner, in
        # the order a search answers (the key, then the id): a page reads a page of each.
        Index("ix_relationships_search_name", "partner_account_id", "status", "search_name", "id"),
        Index(
            "ix_relationships_search_domain", "partner_account_id", "status", "search_domain", "id"
        ),
    )

    customer_tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    partner_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partner_accounts.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[RelationshipKind] = mapped_column(str_enum(RelationshipKind, 20), nullable=False)
    tier: Mapped[Tier] = mapped_column(str_enum(Tier, 20), nullable=False)
    # Two-tier: the provider (on the reseller's row) or the reseller (on the provider's row).
    other_tier_account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("partner_accounts.id", ondelete="SET NULL"), nullable=True
    )
    status: Mapped[RelationshipStatus] = mapped_column(
        str_enum(RelationshipStatus, 20), nullable=False, default=RelationshipStatus.active
    )
    # "partner:customer" while active, NULL once ended: one active relationship per pair.
    active_pair: Mapped[str | None] = mapped_column(String(80), nullable=True, unique=True)
    invitation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("invitations.id", ondelete="SET NULL"), nullable=True
    )
    accepted_by_user_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    # The customer's name and domain as ``search_key`` keeps them, copied here so that a
    # partner's prefix search reads one index (a tenant's name and domain never change).
    search_name: Mapped[str] = mapped_column(SearchKey, nullable=False)
    search_domain: Mapped[str] = mapped_column(SearchKey, nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    terminated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    terminated_by: Mapped[EndedBy | None] = mapped_column(str_enum(EndedBy, 20), nullable=True)
    terminated_by_user_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
