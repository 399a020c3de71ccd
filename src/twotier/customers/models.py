from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from twotier.kit.clock import utcnow
from twotier.kit.db import Base, IdMixin


class GrantStatus:
    active = "active"
    revoked = "revoked"
    expired = "expired"  # never stored: an active grant past expires_at


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
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=GrantStatus.active)
    # Why it exists: "reseller_link" (a reseller authorized its provider) or "relationship".
    source: Mapped[str] = mapped_column(String(30), nullable=False)
    source_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True, index=True)
    approved_by_user_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)

    def effective_status(self, now: datetime) -> str:
        if self.status == GrantStatus.active and self.expires_at <= now:
            return GrantStatus.expired
        return self.status
