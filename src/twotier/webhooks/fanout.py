"""Webhook deliveries written with the event: in the emitting transaction, one per active
endpoint of its audience that subscribes to its type, each in the outbox under its
endpoint's own ordering key, so a slow or dead endpoint holds back only its own events.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.events.models import Event
from twotier.kit.clock import utcnow
from twotier.kit.fastread import Read
from twotier.kit.outbox import enqueue
from twotier.webhooks.models import (
    DeliveryKind,
    DeliveryStatus,
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
)

DELIVERY = "webhook_delivery"


def ordering_key(endpoint_id: uuid.UUID) -> str:
    return f"webhook:{endpoint_id}"


def new_delivery(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    event: Event,
    *,
    kind: str,
    replay_of: uuid.UUID | None = None,
) -> WebhookDelivery:
    """A pending delivery and its outbox message, in the caller's transaction."""
    delivery = WebhookDelivery(
        id=uuid.uuid4(),
        endpoint_id=endpoint_id,
        event_id=event.id,
        event_type=event.type,
        kind=kind,
        replay_of_id=replay_of,
        dedupe_key=f"{endpoint_id}:{event.id}" if kind == DeliveryKind.event else None,
        status=DeliveryStatus.pending,
        attempts=0,
        created_at=utcnow(),
        next_attempt_at=utcnow(),
    )
    session.add(delivery)
    # Events keep the endpoint's order; tests and replays go on their own.
    key = ordering_key(endpoint_id) if kind == DeliveryKind.event else None
    enqueue(session, DELIVERY, {"delivery_id": str(delivery.id)}, ordering_key=key)
    return delivery


@dataclass(frozen=True)
class Subscriber:
    """An active endpoint: whose it is and which event types it wants."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    events: Sequence[str]


_SUBSCRIBERS = Read(
    select(WebhookEndpoint.id, WebhookEndpoint.tenant_id, WebhookEndpoint.events)
    .where(
        WebhookEndpoint.tenant_id.in_(bindparam("tenant_ids", expanding=True)),
        WebhookEndpoint.status == EndpointStatus.active,
    )
    .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    .with_for_update(read=True, key_share=True)
)


async def subscribers(session: AsyncSession, tenant_ids: Iterable[uuid.UUID]) -> list[Subscriber]:
    """The active endpoints of these tenants, oldest first: one query for all.

    FOR KEY SHARE (PostgreSQL; SQLite serialises writers) holds off the endpoints' deletion
    until this transaction's deliveries, which reference them, are written.
    """
    wanted = list(dict.fromkeys(tenant_ids))
    if not wanted:
        return []
    rows = await _SUBSCRIBERS.all(session, tenant_ids=wanted)
    return [Subscriber(row.id, row.tenant_id, row.events) for row in rows]


async def subscribed(
    session: AsyncSession, event_type: str, tenant_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """The active endpoints of these tenants that want ``event_type``."""
    return [s.id for s in await subscribers(session, tenant_ids) if event_type in s.events]


def wanting(
    known: Sequence[Subscriber], audience: Sequence[str], event_type: str
) -> list[uuid.UUID]:
    """The endpoints among ``known`` that an event of ``event_type`` for ``audience`` (tenant
    ids, as an event holds them) is delivered to."""
    members = {uuid.UUID(t) for t in audience}
    return [s.id for s in known if s.tenant_id in members and event_type in s.events]


async def fan_out(
    session: AsyncSession, event: Event, known: Sequence[Subscriber] | None = None
) -> int:
    """One delivery per subscribed endpoint of the event's audience; how many were made.
    ``known``: the active endpoints of (at least) the audience, read once for several
    events of one change."""
    if not event.audience:
        return 0
    if known is None:
        known = await subscribers(session, [uuid.UUID(t) for t in event.audience])
    wanted = wanting(known, event.audience, event.type)
    if wanted:
        # The event row first: nothing but this flush orders it before its deliveries.
        await session.flush()
    for endpoint_id in wanted:
        new_delivery(session, endpoint_id, event, kind=DeliveryKind.event)
    return len(wanted)
