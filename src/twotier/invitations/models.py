"""The invitation object: a personalized, single-use link from a partner, of a kind."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from twotier.kit.clock import utcnow
from twotier.kit.db import Base, IdMixin, str_enum
from twotier.kit.states import Machine


class InvitationKind(StrEnum):
    reseller = "reseller"  # a provider invites a reseller to authorize it
    customer = "customer"  # a reseller (alone or with its provider) invites a customer


class InvitationStatus(StrEnum):
    pending = "pending"
    accepted = "accepted"
    revoked = "revoked"
    expired = "expired"  # never stored: a pending invitation past expires_at


# A pending invitation is accepted once or revoked by its sender; "expired" is read from the
# clock, never stored.
INVITATION = Machine(
    "invitation",
    {InvitationStatus.pending: {InvitationStatus.accepted, InvitationStatus.revoked}},
)

INVITATION_STATUS_LABELS: dict[InvitationStatus, str] = {
    InvitationStatus.pending: "Pending",
    InvitationStatus.accepted: "Accepted",
    InvitationStatus.revoked: "Revoked",
    InvitationStatus.expired: "Expired",
}


class Invitation(IdMixin, Base):
    """A personalized link from a partner, with a single-use token stored only as a hash."""

    __tablename__ = "invitations"
    __table_args__ = (
        Index("ix_invitations_from_created", "from_partner_account_id", "kind", "created_at", "id"),
    )

    kind: Mapped[InvitationKind] = mapped_column(str_enum(InvitationKind, 20), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    # Random; with the server's secret it re-derives the link for its sender (never stored).
    token_nonce: Mapped[str] = mapped_column(String(64), nullable=False)
    from_partner_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partner_accounts.id", ondelete="CASCADE"), nullable=False
    )
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    to_partner_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    status: Mapped[InvitationStatus] = mapped_column(
        str_enum(InvitationStatus, 20), nullable=False, default=InvitationStatus.pending
    )
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    accepted_by_user_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    accepted_by_tenant_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
