"""Emitting events: one row per change, in the change's transaction, for its audience."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from twotier.events.models import Event
from twotier.kit.clock import utcnow
from twotier.webhooks import fanout

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
async def emit(
    session: AsyncSession,
    type_: str,
    *,
    resource_type: str,
    resource_id: uuid.UUID | str,
    resource_uri: str | None,
    actor: Principal | None,
    audience: Iterable[uuid.UUID | None],
    on_behalf_of_customer_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
    fan_out: bool = True,
) -> Event:
    """Record an event in the caller's transaction; it exists only if the change commits.

    With it, one webhook delivery for each active endpoint of its audience that subscribes
    to its type (one query for all the audience's endpoints); ``fan_out=False`` makes none.
    """
    seen: list[str] = []
    for tenant_id in audience:
        if tenant_id is not None and str(tenant_id) not in seen:
            seen.append(str(tenant_id))
    event = Event(
        id=uuid.uuid4(),
        type=type_,
        occurred_at=utcnow(),
        resource_type=resource_type,
        resource_id=str(resource_id),
        resource_uri=resource_uri,
        actor=actor_of(actor),
        partner_id=actor.partner_id if actor else None,
        on_behalf_of_customer_id=on_behalf_of_customer_id,
        audience=seen,
        data=data or {},
    )
    session.add(event)
    if fan_out:
        await fanout.fan_out(session, event)
    return event
