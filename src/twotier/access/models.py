from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from twotier.kit.clock import utcnow
from twotier.kit.db import Base, IdMixin, str_enum
from twotier.kit.states import Machine


class GrantStatus(StrEnum):
    active = "active"
    revoked = "revoked"
    expired = "expired"  # never stored: an active grant past expires_at


# Revoked by the customer, the partner (dropping every role) or the end of its source;
# "expired" is read from the clock, never stored.
GRANT = Machine("delegated-access grant", {GrantStatus.active: {GrantStatus.revoked}})

GRANT_STATUS_LABELS: dict[GrantStatus, str] = {
    GrantStatus.active: "Active",
    GrantStatus.expired: "Expired",
    GrantStatus.revoked: "Revoked",
}


class GrantSource(StrEnum):
    """Why a grant exists; the grant names its source row in the matching column."""

    reseller_link = "reseller_link"  # a reseller authorized its indirect provider
    relationship = "relationship"  # a customer accepted a reseller relationship


class DelegatedAccessGrant(IdMixin, Base):
    """Admin roles a tenant grants a partner in its directory, until a date (GDAP-style)."""

    __tablename__ = "delegated_access_grants"
    __table_args__ = (
        Index("ix_grants_tenant_partner", "tenant_id", "partner_account_id", "status"),
        Index("ix_grants_partner_status", "partner_account_id", "status"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    partner_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partner_accounts.id", ondelete="CASCADE"), nullable=False
    )
    roles: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    status: Mapped[GrantStatus] = mapped_column(
        str_enum(GrantStatus, 20), nullable=False, default=GrantStatus.active
    )
    source: Mapped[GrantSource] = mapped_column(str_enum(GrantSource, 30), nullable=False)
    # The source row, by kind (one of the two is set, as ``source`` says).
    reseller_link_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("reseller_links.id", ondelete="CASCADE", name="fk_grants_reseller_link"),
        nullable=True,
        index=True,
    )
    relationship_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customer_relationships.id", ondelete="CASCADE", name="fk_grants_relationship"),
        nullable=True,
        index=True,
    )
    approved_by_user_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # A partner's pending request to extend the grant; the customer approves or declines.
    extension_days: Mapped[int | None] = mapped_column(nullable=True)
    extension_requested_at: Mapped[datetime | None] = mapped_column(nullable=True)

    def effective_status(self, now: datetime) -> GrantStatus:
        return grant_status(self.status, self.expires_at, now)


def grant_status(status: GrantStatus, expires_at: datetime, now: datetime) -> GrantStatus:
    """A grant's status now: an active grant past its expiry is expired (never stored)."""
    if status == GrantStatus.active and expires_at <= now:
        return GrantStatus.expired
    return status
