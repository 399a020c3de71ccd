from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from twotier.kit.clock import utcnow
from twotier.kit.db import Base, IdMixin, str_enum


class EndpointStatus(StrEnum):
    active = "active"
    disabled = "disabled"


class DisabledReason(StrEnum):
    by_user = "by_user"
    gone = "gone"  # the receiver answered 410
    retries_exhausted = "retries_exhausted"


class WebhookEndpoint(IdMixin, Base):
    """A URL of a tenant's that receives the events it subscribes to, signed.

    The signing secret is not stored: it is derived from the server's secret key and a
    random nonce (as invitation links are), so the database alone never yields it. During
    a rotation the previous nonce keeps signing until ``previous_secret_expires_at``.
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        Index("ix_webhook_endpoints_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_webhook_endpoints_tenant_status", "tenant_id", "status"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    description: Mapped[str | None] = mapped_column(String(200), nullable=True)
    events: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    status: Mapped[EndpointStatus] = mapped_column(
        str_enum(EndpointStatus, 20), nullable=False, default=EndpointStatus.active
    )
    disabled_reason: Mapped[DisabledReason | None] = mapped_column(
        str_enum(DisabledReason, 40), nullable=True
    )
    disabled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    secret_nonce: Mapped[str] = mapped_column(String(64), nullable=False)
    previous_secret_nonce: Mapped[str | None] = mapped_column(String(64), nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow, onupdate=utcnow)


class DeliveryStatus(StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"  # given up: 410, or retries exhausted
    skipped = "skipped"  # the endpoint was disabled or deleted before its turn


class DeliveryKind(StrEnum):
    event = "event"
    test = "test"
    replay = "replay"


class WebhookDelivery(IdMixin, Base):
    """One event for one endpoint, with its retries (``WebhookAttempt`` rows)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at", "id"),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    )
    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), nullable=False, index=True
    )
    event_type: Mapped[str] = mapped_column(String(80), nullable=False)
    kind: Mapped[DeliveryKind] = mapped_column(
        str_enum(DeliveryKind, 20), nullable=False, default=DeliveryKind.event
    )
    replay_of_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    # "endpoint:event" for fan-out deliveries: a repeated fan-out adds nothing.
    dedupe_key: Mapped[str | None] = mapped_column(String(80), nullable=True, unique=True)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, 20), nullable=False, default=DeliveryStatus.pending
    )
    attempts: Mapped[int] = mapped_column(nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    first_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class WebhookAttempt(IdMixin, Base):
    """One HTTP request of a delivery: when, how long, what came back."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "attempted_at", "id"),)

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False
    )
    attempted_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    succeeded: Mapped[bool] = mapped_column(nullable=False, default=False)
    response_status: Mapped[int | None] = mapped_column(nullable=True)
    duration_ms: Mapped[int] = mapped_column(nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
