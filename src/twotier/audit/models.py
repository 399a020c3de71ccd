from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, SmallInteger, String, text
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
        # The sealer's "not yet chained, oldest first" (seq is NULL until sealed).
        Index("ix_audit_records_seq_at_id", "seq", "at", "id"),
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
    # Tamper evidence: the request writes the content hash; the sealer later gives the
    # record its place in the chain (seq), the previous record's chain hash, and its own.
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    chain_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # How both hashes are made: 1 plain SHA-256 (sealed before keyed hashing), 2 HMAC-SHA256
    # with the audit key. A row inserted by hand gets 1, which the sealer refuses.
    hash_version: Mapped[int] = mapped_column(
        SmallInteger, nullable=False, server_default=text("1")
    )
    # Set by the sealer on a row whose content hash does not match: kept out of the chain.
    refused_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AuditChainHead(Base):
    """The last sealed record: its seq and chain hash (one row). Its row lock is the
    sealer's lock, so only sealing is serialised, never the requests writing records."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
