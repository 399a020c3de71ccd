"""The end of a term: auto-renew renews for another term, otherwise the subscription ends."""

from __future__ import annotations

from datetime import datetime

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.commerce.helpers import World, subscribe, travel
from twotier.audit.models import AuditRecord
from twotier.commerce.renewals import renew_due
from twotier.config import Settings
from twotier.events.models import Event
from twotier.kit.db import Database
from twotier.kit.outbox import Worker

DAY = 86400


async def read(client: httpx.AsyncClient, world: World, sub_id: str) -> dict[str, object]:
    response = await client.get(world.path(f"/subscriptions/{sub_id}"), headers=world.customer.auth)
    assert response.status_code == 200
    return dict(response.json())


async def seats(client: httpx.AsyncClient, world: World) -> int:
    return int(
        (await client.get(world.path("/licenses"), headers=world.customer.auth)).json()["items"][0][
            "total"
        ]
    )


async def test_nothing_happens_before_the_term_ends(
    client: httpx.AsyncClient, db: Database, monthly_world: World
) -> None:
    sub = await subscribe(client, monthly_world, 4)
    await travel(client, monthly_world, 20 * DAY)
    assert await renew_due(db) == 0
    assert (await read(client, monthly_world, sub["id"]))["etag"] == sub["etag"]


async def test_auto_renew_starts_another_term_with_a_new_cancellation_window(
    client: httpx.AsyncClient,
    session: AsyncSession,
    db: Database,
    settings: Settings,
    monthly_world: World,
) -> None:
    sub = await subscribe(client, monthly_world, 4)
    ended = datetime.fromisoformat(sub["term_ends_at"])
    await travel(client, monthly_world, 32 * DAY)
    await Worker(db, settings).run_once()  # the worker runs the renewal job
    renewed = await read(client, monthly_world, sub["id"])
    assert renewed["status"] == "active"
    new_end = datetime.fromisoformat(str(renewed["term_ends_at"]))
    assert 28 <= (new_end - ended).days <= 31
    window = datetime.fromisoformat(str(renewed["cancellable_until"])) - ended
    assert window.days == 7
    assert renewed["etag"] != sub["etag"]
    assert await seats(client, monthly_world) == 4
    record = await session.scalar(
        select(AuditRecord).where(AuditRecord.operation == "subscription_renewed")
    )
    assert record is not None
    assert str(record.subject_tenant_id) == monthly_world.customer.id
    event = await session.scalar(select(Event).where(Event.type == "subscription_updated"))
    assert event is not None
    assert event.data["reason"] == "renewed"
    assert monthly_world.reseller.id in event.audience
    # Within the new window the provider may lower the quantity again.
    lowered = await client.patch(
        monthly_world.path(f"/subscriptions/{sub['id']}"),
        json={"quantity": 2},
        headers=monthly_world.provider.auth | {"If-Match": str(renewed["etag"])},
    )
    assert lowered.status_code == 200, lowered.text


async def test_without_auto_renew_the_subscription_ends_with_its_term(
    client: httpx.AsyncClient, db: Database, monthly_world: World
) -> None:
    sub = await subscribe(client, monthly_world, 4)
    off = await client.patch(
        monthly_world.path(f"/subscriptions/{sub['id']}"),
        json={"auto_renew": False},
        headers=monthly_world.provider.auth | {"If-Match": sub["etag"]},
    )
    assert off.status_code == 200
    await travel(client, monthly_world, 32 * DAY)
    assert await renew_due(db) == 1
    ended = await read(client, monthly_world, sub["id"])
    assert ended["status"] == "cancelled"
    assert ended["cancelled_at"] == sub["term_ends_at"]
    assert await seats(client, monthly_world) == 0
    assert await renew_due(db) == 0  # ended once
