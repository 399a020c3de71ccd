from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from twotier.kit.clock import utcnow
from twotier.kit.db import Base, IdMixin


class MembershipAccount(IdMixin, Base):
    """A sign-in to the partner-membership registry (the seed's Partner Membership Center)."""

    __tablename__ = "membership_accounts"
    __table_args__ = (Index("ix_membership_accounts_created_id", "created_at", "id"),)

    username: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)

    organizations: Mapped[list[MembershipOrganization]] = relationship(
        back_populates="account", lazy="raise", order_by="MembershipOrganization.partner_id"
    )


class MembershipOrganization(IdMixin, Base):
    """An organization profile in the registry, identified by its partner ID."""

    __tablename__ = "membership_organizations"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("membership_accounts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    partner_id: Mapped[str] = mapped_column(String(20), nullable=False, unique=True)
    legal_name: Mapped[str] = mapped_column(String(200), nullable=False)
    country: Mapped[str] = mapped_column(String(2), nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)

    account: Mapped[MembershipAccount] = relationship(back_populates="organizations", lazy="raise")
