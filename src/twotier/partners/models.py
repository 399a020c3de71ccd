from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from twotier.kit.db import Base, IdMixin, TimestampMixin


class PartnerAccount(IdMixin, TimestampMixin, Base):
    """An approved partner: one per tenant, linked to one partner ID."""

    __tablename__ = "partner_accounts"
    __table_args__ = (
        Index("ix_partner_accounts_country_name", "country", "company_name_lower", "id"),
        Index("ix_partner_accounts_name", "company_name_lower", "id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    partner_id: Mapped[str] = mapped_column(String(20), nullable=False, unique=True)
    company_name: Mapped[str] = mapped_column(String(200), nullable=False)
    # Lower-cased copy for case-insensitive prefix search on an index, on every backend.
    company_name_lower: Mapped[str] = mapped_column(String(200), nullable=False)
    country: Mapped[str] = mapped_column(String(2), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active")
    legal_profile: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    primary_contact: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    support_profile: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    approved_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Program:
    indirect_reseller = "indirect_reseller"
    indirect_provider = "indirect_provider"

    ALL = (indirect_reseller, indirect_provider)


PROGRAM_LABELS: dict[str, str] = {
    Program.indirect_reseller: "Indirect reseller",
    Program.indirect_provider: "Indirect provider",
}


class PartnerProgram(Base):
    """A program a partner account is approved in."""

    __tablename__ = "partner_programs"
    __table_args__ = (Index("ix_partner_programs_program", "program", "partner_account_id"),)

    partner_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partner_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    program: Mapped[str] = mapped_column(String(40), primary_key=True)
    approved_at: Mapped[datetime] = mapped_column(nullable=False)
