from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from twotier.kit.clock import utcnow
from twotier.kit.db import Base, IdMixin, str_enum
from twotier.kit.states import Machine


class Side(StrEnum):
    """Which end of a link a partner is on."""

    provider = "provider"
    reseller = "reseller"


class LinkStatus(StrEnum):
    active = "active"
    terminated = "terminated"


# Re-inviting creates a new link; a terminated one stays terminated.
LINK = Machine("reseller link", {LinkStatus.active: {LinkStatus.terminated}})


class ResellerLink(IdMixin, Base):
    """An indirect provider authorized by an indirect reseller."""

    __tablename__ = "reseller_links"
    __table_args__ = (
        Index("ix_reseller_links_provider", "provider_account_id", "status", "created_at", "id"),
        Index("ix_reseller_links_reseller", "reseller_account_id", "status", "created_at", "id"),
    )

    provider_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partner_accounts.id", ondelete="CASCADE"), nullable=False
    )
    reseller_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partner_accounts.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[LinkStatus] = mapped_column(
        str_enum(LinkStatus, 20), nullable=False, default=LinkStatus.active
    )
    # "provider:reseller" while active, NULL once terminated: at most one active link per pair,
    # enforced by a plain unique index on every backend.
    active_pair: Mapped[str | None] = mapped_column(String(80), nullable=True, unique=True)
    invitation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("invitations.id", ondelete="SET NULL"), nullable=True
    )
    authorized_by_user_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    terminated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    terminated_by_account_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    terminated_by_user_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
