from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from twotier.kit.clock import utcnow
from twotier.kit.db import Base, IdMixin, TimestampMixin, str_enum


class TenantKind(StrEnum):
    organization = "organization"
    operator = "operator"


class Tenant(IdMixin, TimestampMixin, Base):
    """A directory tenant: every organization (partner, customer, the operator) has one."""

    __tablename__ = "tenants"
    __table_args__ = (Index("ix_tenants_created_at_id", "created_at", "id"),)

    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    domain: Mapped[str] = mapped_column(String(253), nullable=False, unique=True)
    country: Mapped[str] = mapped_column(String(2), nullable=False)
    kind: Mapped[TenantKind] = mapped_column(
        str_enum(TenantKind, 20), nullable=False, default=TenantKind.organization
    )

    users: Mapped[list[User]] = relationship(back_populates="tenant", lazy="raise")


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (Index("ix_users_tenant_created", "tenant_id", "created_at", "id"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    email: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    # Directory roles, a short list read with the user in the one sign-in lookup.
    roles: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    # Partner roles (admin agent...), meaningful once the tenant is a partner.
    partner_roles: Mapped[list[str]] = mapped_column(
        JSON, nullable=False, default=list, server_default=text("'[]'")
    )
    is_active: Mapped[bool] = mapped_column(nullable=False, default=True)
    # Set while the password is a temporary one from a reset: it must be changed at the next
    # sign-in, and signs in no more after this time.
    temporary_password_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)

    tenant: Mapped[Tenant] = relationship(back_populates="users", lazy="raise")


class TokenKind(StrEnum):
    api = "api"
    session = "session"


class AccessToken(IdMixin, Base):
    """An opaque bearer token or portal session; only its SHA-256 is stored."""

    __tablename__ = "access_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[TokenKind] = mapped_column(str_enum(TokenKind, 10), nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


# A tenant's partner identity (its partner account and programs) is read with every
# principal, so it lives here; the partner business (profiles, programs, the provider
# list) is ``twotier.partners``.


class PartnerStatus(StrEnum):
    active = "active"


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
    status: Mapped[PartnerStatus] = mapped_column(
        str_enum(PartnerStatus, 20), nullable=False, default=PartnerStatus.active
    )
    legal_profile: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    primary_contact: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    support_profile: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    approved_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Program(StrEnum):
    indirect_reseller = "indirect_reseller"
    indirect_provider = "indirect_provider"


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
    program: Mapped[Program] = mapped_column(str_enum(Program, 40), primary_key=True)
    approved_at: Mapped[datetime] = mapped_column(nullable=False)
