from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from twotier.kit.clock import utcnow
from twotier.kit.db import Base, IdMixin, TimestampMixin


class TenantKind:
    organization = "organization"
    operator = "operator"


class Tenant(IdMixin, TimestampMixin, Base):
    """A directory tenant: every organization (partner, customer, the operator) has one."""

    __tablename__ = "tenants"
    __table_args__ = (Index("ix_tenants_created_at_id", "created_at", "id"),)

    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    domain: Mapped[str] = mapped_column(String(253), nullable=False, unique=True)
    country: Mapped[str] = mapped_column(String(2), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False, default=TenantKind.organization)

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


class TokenKind:
    api = "api"
    session = "session"


class AccessToken(IdMixin, Base):
    """An opaque bearer token or portal session; only its SHA-256 is stored."""

    __tablename__ = "access_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
