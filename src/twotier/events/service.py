"""Announcing what happened: ``announce`` writes a change's audit record and the events
other tenants are told of, together, in the change's transaction.

Every state change in a service ends with one ``announce`` (Zulip's ``do_*`` actions are the
model: check, change, announce). ``emit`` is the event writer it uses.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Required, TypedDict, Unpack

from sqlalchemy.ext.asyncio import AsyncSession

from twotier.audit import service as audit
from twotier.audit.models import AuditRecord
from twotier.events.catalog import EventType
from twotier.events.models import Event
from twotier.kit.clock import utcnow
from twotier.kit.fastread import Read, insert_row
from twotier.webhooks import fanout
from twotier.webhooks.models import DeliveryKind

if TYPE_CHECKING:
    from twotier.directory.principal import Principal


def actor_of(principal: Principal | None) -> dict[str, Any] | None:
    if principal is None:
        return None
    return {
        "user_id": str(principal.user_id),
        "tenant_id": str(principal.tenant_id),
        "partner_id": principal.partner_id,
    }


# Async because the subscribed endpoints are read here, so each delivery is written in the
# emitting transaction under its endpoint's ordering key (callers: ``await events.emit``).
class EventFields(TypedDict, total=False):
    """What an event says: ``emit``'s and ``new_row``'s keywords after its type."""

    resource_type: Required[str]
    resource_id: Required[uuid.UUID | str]
    resource_uri: Required[str | None]
    actor: Required[Principal | None]
    audience: Required[Iterable[uuid.UUID | None]]
    on_behalf_of_customer_id: uuid.UUID | None
    data: dict[str, Any] | None


async def emit(
    session: AsyncSession,
    type_: EventType,
    *,
    fan_out: bool = True,
    subscribers: Sequence[fanout.Subscriber] | None = None,
    **what: Unpack[EventFields],
) -> Event:
    """Record an event in the caller's transaction; it exists only if the change commits.

    With it, one webhook delivery for each active endpoint of its audience that subscribes
    to its type (one query for all the audience's endpoints, none when ``subscribers``
    already holds them); ``fan_out=False`` makes none.
    """
    event = Event(**new_row(type_, **what))
    session.add(event)
    if fan_out:
        await fanout.fan_out(session, event, subscribers)
    return event


def new_row(type_: EventType, **what: Unpack[EventFields]) -> dict[str, Any]:
    """An event as ``emit`` records it (its audience each tenant once, in order), as every
    column's value (for an insert of its own, or an ``Event``)."""
    actor = what["actor"]
    seen: list[str] = []
    for tenant_id in what["audience"]:
        if tenant_id is not None and str(tenant_id) not in seen:
            seen.append(str(tenant_id))
    return {
        "id": uuid.uuid4(),
        "type": type_,
        "occurred_at": utcnow(),
        "resource_type": what["resource_type"],
        "resource_id": str(what["resource_id"]),
        "resource_uri": what["resource_uri"],
        "actor": actor_of(actor),
        "partner_id": actor.partner_id if actor else None,
        "on_behalf_of_customer_id": what.get("on_behalf_of_customer_id"),
        "audience": seen,
        "data": what.get("data") or {},
    }


# The audit record and the events of an announcement, written as they are made (no ORM
# unit of work at commit: a fifth of a hot write's cost). Neither table has foreign keys,
# so nothing else the transaction holds pending need be written first.
_INSERT_AUDIT = Read(insert_row(AuditRecord.__table__))
_INSERT_EVENT = Read(insert_row(Event.__table__))


@dataclass(frozen=True)
class Tell:
    """An event to announce: its type, the resource it is about, and who is told."""

    type: EventType
    resource_type: str
    resource_id: uuid.UUID | str
    resource_uri: str | None
    audience: Sequence[uuid.UUID | None]
    data: dict[str, Any] = field(default_factory=dict)
    # Defaults to the audit record's on_behalf_of_customer_id.
    on_behalf_of_customer_id: uuid.UUID | None = None


async def announce(
    session: AsyncSession,
    actor: Principal | None,
    operation: str,
    *,
    resource_type: str,
    resource_id: uuid.UUID | str | None,
    detail: dict[str, Any] | None = None,
    subject_tenant_id: uuid.UUID | None = None,
    on_behalf_of_customer_id: uuid.UUID | None = None,
    tell: Sequence[Tell] = (),
    actor_user_id: uuid.UUID | None = None,
    actor_tenant_id: uuid.UUID | None = None,
    request_id: str | None = None,
) -> None:
    """Record that ``actor`` did ``operation`` (the audit record) and tell the tenants
    concerned (each ``Tell`` an event, with its webhook deliveries), in that order: the
    record and the events are written at once, in the caller's transaction."""
    entry = audit.new_row(
        operation=operation,
        resource_type=resource_type,
        resource_id=resource_id,
        actor=actor,
        subject_tenant_id=subject_tenant_id,
        on_behalf_of_customer_id=on_behalf_of_customer_id,
        detail=detail,
        actor_user_id=actor_user_id,
        actor_tenant_id=actor_tenant_id,
        request_id=request_id,
    )
    made = [
        new_row(
            event.type,
            resource_type=event.resource_type,
            resource_id=event.resource_id,
            resource_uri=event.resource_uri,
            actor=actor,
            audience=event.audience,
            on_behalf_of_customer_id=event.on_behalf_of_customer_id or on_behalf_of_customer_id,
            data=event.data,
        )
        for event in tell
    ]
    # The endpoints of everyone told, read once for all the events.
    audience = [uuid.UUID(t) for row in made for t in row["audience"]]
    known = await fanout.subscribers(session, audience)
    await _INSERT_AUDIT.all(session, **entry)
    await _INSERT_EVENT.many(session, made)
    for row in made:
        for endpoint_id in fanout.wanting(known, row["audience"], row["type"]):
            fanout.new_delivery(session, endpoint_id, Event(**row), kind=DeliveryKind.event)
