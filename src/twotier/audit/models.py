from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from twotier.kit.clock import utcnow
from twotier.kit.db import Base, IdMixin


class AuditRecord(IdMixin, Base):
    """Who did what, in which tenant, for which partner, on behalf of which customer."""

    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_at_id", "at", "id"),
        Index("ix_audit_records_actor_tenant_at", "actor_tenant_id", "at"),
        Index("ix_audit_records_subject_tenant_at", "subject_tenant_id", "at"),
    )

    at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    operation: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    actor_tenant_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    actor_partner_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # The tenant the change happened in (the customer, for delegated actions).
    subject_tenant_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    on_behalf_of_customer_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    resource_type: Mapped[str] = mapped_column(String(60), nullable=False)
    resource_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
