from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from twotier.kit.clock import utcnow
from twotier.kit.db import Base, IdMixin


class Event(IdMixin, Base):
    """Something that happened, for the tenants it concerns (``audience``).

    Written in the same transaction as the change; webhooks deliver it from here.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_occurred", "occurred_at", "id"),)

    type: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    occurred_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    resource_type: Mapped[str] = mapped_column(String(60), nullable=False)
    resource_id: Mapped[str] = mapped_column(String(64), nullable=False)
    resource_uri: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # {"user_id", "tenant_id", "partner_id"} of who caused it; null for the system.
    actor: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    partner_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    on_behalf_of_customer_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    # The tenant ids (as strings) that may see this event and receive it by webhook.
    audience: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
