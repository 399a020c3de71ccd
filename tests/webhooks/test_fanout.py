"""Deliveries are written with the event, each under its endpoint's own ordering key: a
failing or stuck endpoint holds back its own events and nobody else's."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import Org, make_org
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import deliver, deliveries, register
from twotier.config import Settings
from twotier.events import service as events
from twotier.events.catalog import EventType
from twotier.kit import clock
from twotier.kit.db import Database
from twotier.kit.outbox import OutboxMessage, Worker, enqueue
from twotier.webhooks.delivery import LEGACY_FANOUT
from twotier.webhooks.models import WebhookDelivery


async def emit(db: Database, audience: list[Org], n: int, *, fan_out: bool = True) -> uuid.UUID:
    """Commit one ``link_created`` event (``data.n``) for these tenants; returns its id."""
    async with db.write_sessions() as s, s.begin():
        emitted = await events.emit(
            s,
            EventType.link_created,
            resource_type="reseller_link",
            resource_id=f"link-{n}",
            resource_uri=None,
            actor=None,
            audience=[uuid.UUID(org.id) for org in audience],
            data={"n": n},
            fan_out=fan_out,
        )
    return emitted.id


def numbers(receiver: Receiver, path: str) -> list[int]:
    return [json.loads(r.body)["data"]["n"] for r in receiver.received if r.path == path]


async def delivered_to(db: Database, event_id: uuid.UUID) -> set[str]:
    async with db.read_sessions() as s:
        rows = await s.scalars(
            select(WebhookDelivery.endpoint_id).where(WebhookDelivery.event_id == event_id)
        )
        return {str(endpoint_id) for endpoint_id in rows}


async def test_emitting_writes_one_delivery_per_subscribed_endpoint_in_one_query(
    client: httpx.AsyncClient, db: Database, engine: AsyncEngine, receiver: Receiver
) -> None:
    orgs = [await make_org(client) for _ in range(3)]
    wanted = [(await register(client, org, receiver.url, ["link_created"]))["id"] for org in orgs]
    for org in orgs:  # not subscribed to the type
        await register(client, org, receiver.url, ["order_created"])
    off = await register(client, orgs[0], receiver.url, ["link_created"])
    await client.patch(
        f"/api/v1/webhooks/{off['id']}", json={"enabled": False}, headers=orgs[0].auth
    )
    outsider = await make_org(client)  # subscribed, but not in the audience
    await register(client, outsider, receiver.url, ["link_created"])

    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.upper().startswith(("SAVEPOINT", "RELEASE", "BEGIN")):
            statements.append(statement)

    async def cost(audience: list[Org]) -> tuple[int, uuid.UUID]:
        async with db.write_sessions() as s, s.begin():
            statements.clear()
            event.listen(engine.sync_engine, "before_cursor_execute", count)
            try:
                emitted = await events.emit(
                    s,
                    EventType.link_created,
                    resource_type="reseller_link",
                    resource_id="link-1",
                    resource_uri=None,
                    actor=None,
                    audience=[uuid.UUID(org.id) for org in audience],
                )
            finally:
                event.remove(engine.sync_engine, "before_cursor_execute", count)
            # One read for all the audience's endpoints (the event's INSERT is flushed
            # before its deliveries so the rows go in in foreign-key order).
            [read] = [st for st in statements if not st.lstrip().upper().startswith("INSERT")]
            assert "webhook_endpoints" in read
            if engine.dialect.name == "postgresql":
                assert "FOR KEY SHARE" in read  # the endpoints stay until the deliveries exist
        reads = [st for st in statements if not st.lstrip().upper().startswith("INSERT")]
        return len(reads), emitted.id

    one, first = await cost(orgs[:1])
    three, event_id = await cost(orgs)
    assert one == three == 1
    assert await delivered_to(db, first) == set(wanted[:1])
    assert await delivered_to(db, event_id) == set(wanted)
    async with db.read_sessions() as s:
        messages = (await s.scalars(select(OutboxMessage))).all()
    assert {m.ordering_key for m in messages if m.kind == "webhook_delivery"} == {
        f"webhook:{endpoint_id}" for endpoint_id in wanted
    }
    assert [m for m in messages if m.kind == LEGACY_FANOUT] == []


async def test_deliveries_exist_only_if_the_emitting_transaction_commits(
    client: httpx.AsyncClient, db: Database, receiver: Receiver
) -> None:
    org = await make_org(client)
    hook = await register(client, org, receiver.url, ["link_created"])
    emitted: list[uuid.UUID] = []

    async def change_that_fails() -> None:
        async with db.write_sessions() as s, s.begin():
            written = await events.emit(
                s,
                EventType.link_created,
                resource_type="reseller_link",
                resource_id="link-1",
                resource_uri=None,
                actor=None,
                audience=[uuid.UUID(org.id)],
            )
            emitted.append(written.id)
            await s.flush()
            mine = select(WebhookDelivery.endpoint_id).where(WebhookDelivery.event_id == written.id)
            assert [str(e) for e in await s.scalars(mine)] == [hook["id"]]  # written with it
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await change_that_fails()
    assert await delivered_to(db, emitted[0]) == set()
    assert await delivered_to(db, await emit(db, [org], 2)) == {hook["id"]}


async def test_an_endpoint_that_always_fails_holds_back_no_other_tenants_events(
    client: httpx.AsyncClient, db: Database, settings: Settings, receiver: Receiver
) -> None:
    failing, healthy = await make_org(client), await make_org(client)
    await register(client, failing, receiver.url + "/a", ["link_created"])
    await register(client, healthy, receiver.url + "/b", ["link_created"])
    receiver.path_status["/hooks/a"] = 500

    for n in (1, 2, 3):
        await emit(db, [failing, healthy], n)
        await deliver(db, settings)  # one round, as a worker runs at every poll interval
        assert numbers(receiver, "/hooks/b") == list(range(1, n + 1))
        clock.travel(settings.outbox_poll_seconds)

    # The failing endpoint keeps its order: event 1 is retried, 2 and 3 wait behind it.
    clock.travel(settings.webhook_backoff_base_seconds)
    await deliver(db, settings)
    assert numbers(receiver, "/hooks/a") == [1, 1]


async def test_a_worker_killed_mid_delivery_holds_back_only_that_endpoint(
    client: httpx.AsyncClient, db: Database, settings: Settings, receiver: Receiver
) -> None:
    stuck, healthy = await make_org(client), await make_org(client)
    hook_a = await register(client, stuck, receiver.url + "/a", ["link_created"])
    hook_b = await register(client, healthy, receiver.url + "/b", ["link_created"])
    receiver.path_status["/hooks/a"] = 500
    await emit(db, [stuck], 1)
    await deliver(db, settings)
    clock.travel(settings.webhook_backoff_base_seconds)
    await emit(db, [stuck], 2)  # queued behind 1, whose retry is now due

    receiver.hold_next = True
    doomed = asyncio.create_task(Worker(db, settings, name="doomed").run_once())
    await asyncio.wait_for(asyncio.to_thread(receiver.held.wait, 10), 15)
    doomed.cancel()  # dies with event 1's retry in flight: its claim holds for the lease
    with pytest.raises(asyncio.CancelledError):
        await doomed
    receiver.release.set()

    await emit(db, [healthy], 3)
    await deliver(db, settings)  # well within the lease
    assert numbers(receiver, "/hooks/b") == [3]
    [done] = await deliveries(client, healthy, hook_b["id"])
    assert done["status"] == "succeeded"
    # The stuck endpoint waits for the lease: event 1 has its first attempt only, 2 none.
    second, first = await deliveries(client, stuck, hook_a["id"])
    assert [len(first["attempts"]), len(second["attempts"])] == [1, 0]
    assert first["status"] == second["status"] == "pending"


async def test_a_fan_out_queued_before_the_upgrade_is_still_delivered_once(
    client: httpx.AsyncClient, db: Database, settings: Settings, receiver: Receiver
) -> None:
    org = await make_org(client)
    hook = await register(client, org, receiver.url, ["link_created"])
    event_id = await emit(db, [org], 1, fan_out=False)
    assert await delivered_to(db, event_id) == set()
    async with db.write_sessions() as s, s.begin():
        for _ in range(2):  # written twice: delivered once all the same
            enqueue(s, LEGACY_FANOUT, {"event_id": str(event_id)}, ordering_key="webhooks:fanout")

    await deliver(db, settings)

    assert receiver.ids() == [str(event_id)]
    [done] = await deliveries(client, org, hook["id"])
    assert done["status"] == "succeeded"
