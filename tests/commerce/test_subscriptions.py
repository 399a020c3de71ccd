"""Subscriptions: ETags, If-Match, the state machine, the cancellation window, seats."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.commerce.helpers import World, committed_operator, subscribe, travel, two_tier_world
from tests.factories import unique
from twotier.audit.models import AuditRecord
from twotier.config import Settings
from twotier.events.models import Event
from twotier.kit.db import Database

DAY = 86400


async def read(client: httpx.AsyncClient, world: World, sub_id: str) -> httpx.Response:
    return await client.get(world.path(f"/subscriptions/{sub_id}"), headers=world.provider.auth)


async def patch(
    client: httpx.AsyncClient,
    world: World,
    sub_id: str,
    body: dict[str, Any],
    *,
    etag: str | None = "fresh",
    as_: dict[str, str] | None = None,
) -> httpx.Response:
    if etag == "fresh":
        got = await read(client, world, sub_id)
        assert got.status_code == 200, got.text
        etag = got.headers["ETag"]
    headers = dict(as_ or world.provider.auth)
    if etag is not None:
        headers["If-Match"] = etag
    return await client.patch(world.path(f"/subscriptions/{sub_id}"), json=body, headers=headers)


async def seats(client: httpx.AsyncClient, world: World) -> dict[str, int]:
    rows = (await client.get(world.path("/licenses"), headers=world.reseller.auth)).json()["items"]
    return {k: rows[0][k] for k in ("total", "assigned", "available")} if rows else {}


async def assign(client: httpx.AsyncClient, world: World, n: int) -> list[str]:
    """Make ``n`` users in the customer's tenant (as the reseller) and license each."""
    users = []
    for i in range(n):
        user = await client.post(
            world.path("/users"),
            json={
                "email": f"{unique('user')}@{world.customer.tenant['domain']}",
                "display_name": f"User {i}",
                "password": "correct horse battery",
                "roles": [],
            },
            headers=world.reseller.auth,
        )
        assert user.status_code == 201, user.text
        response = await client.post(
            world.path(f"/users/{user.json()['id']}/license-updates"),
            json={"add": [world.sku_id]},
            headers=world.reseller.auth,
        )
        assert response.status_code == 200, response.text
        users.append(user.json()["id"])
    return users


async def test_get_answers_with_an_etag_that_changes_with_each_change(
    client: httpx.AsyncClient, world: World
) -> None:
    sub = await subscribe(client, world, 5)
    first = await read(client, world, sub["id"])
    assert first.headers["ETag"] == sub["etag"]
    assert first.json()["etag"] == sub["etag"]
    changed = await patch(client, world, sub["id"], {"auto_renew": False}, etag=sub["etag"])
    assert changed.status_code == 200, changed.text
    assert changed.json()["auto_renew"] is False
    assert changed.headers["ETag"] != sub["etag"]
    assert (await read(client, world, sub["id"])).headers["ETag"] == changed.headers["ETag"]


async def test_if_match_is_required_and_a_stale_one_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    sub = await subscribe(client, world, 5)
    missing = await patch(client, world, sub["id"], {"quantity": 6}, etag=None)
    assert (missing.status_code, missing.json()["code"]) == (428, "if_match_required")
    assert (
        await patch(client, world, sub["id"], {"quantity": 6}, etag=sub["etag"])
    ).status_code == 200
    stale = await patch(client, world, sub["id"], {"quantity": 8}, etag=sub["etag"])
    assert (stale.status_code, stale.json()["code"]) == (412, "etag_mismatch")
    assert (await read(client, world, sub["id"])).json()["quantity"] == 6


async def test_a_change_names_at_least_one_field_and_never_null(
    client: httpx.AsyncClient, world: World
) -> None:
    sub = await subscribe(client, world, 5)
    for body in ({}, {"quantity": None}, {"quantity": None, "auto_renew": False}):
        refused = await patch(client, world, sub["id"], body)
        assert (refused.status_code, refused.json()["code"]) == (422, "validation_error"), body
    assert (await read(client, world, sub["id"])).json()["auto_renew"] is True
    changed = await patch(client, world, sub["id"], {"auto_renew": False})
    assert changed.json()["auto_renew"] is False


async def test_quantity_goes_up_any_time_and_down_only_within_the_window(
    client: httpx.AsyncClient, world: World
) -> None:
    sub = await subscribe(client, world, 5)
    assert (await patch(client, world, sub["id"], {"quantity": 12})).json()["quantity"] == 12
    assert await seats(client, world) == {"total": 12, "assigned": 0, "available": 12}
    assert (await patch(client, world, sub["id"], {"quantity": 10})).json()["quantity"] == 10
    await travel(client, world, 8 * DAY)
    down = await patch(client, world, sub["id"], {"quantity": 9})
    assert (down.status_code, down.json()["code"]) == (409, "cancellation_window_closed")
    up = await patch(client, world, sub["id"], {"quantity": 11})
    assert up.status_code == 200
    assert await seats(client, world) == {"total": 11, "assigned": 0, "available": 11}


async def test_quantity_is_bounded_by_the_offer(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
) -> None:
    world = await two_tier_world(client, db, settings, operator, min_quantity=2, max_quantity=20)
    sub = await subscribe(client, world, 5)
    for quantity in (1, 21):
        response = await patch(client, world, sub["id"], {"quantity": quantity})
        assert (response.status_code, response.json()["code"]) == (422, "quantity_out_of_range")
    zero = await patch(client, world, sub["id"], {"quantity": 0})
    assert zero.status_code == 422


async def test_quantity_never_drops_below_assigned_licenses(
    client: httpx.AsyncClient, world: World
) -> None:
    sub = await subscribe(client, world, 4)
    await assign(client, world, 3)
    refused = await patch(client, world, sub["id"], {"quantity": 2})
    assert (refused.status_code, refused.json()["code"]) == (409, "seats_in_use")
    assert (await read(client, world, sub["id"])).json()["quantity"] == 4
    assert (await patch(client, world, sub["id"], {"quantity": 3})).status_code == 200
    assert await seats(client, world) == {"total": 3, "assigned": 3, "available": 0}


async def test_suspend_reactivate_and_cancel(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    sub = await subscribe(client, world, 5)
    suspended = await patch(client, world, sub["id"], {"status": "suspended"})
    assert suspended.json()["status"] == "suspended"
    assert suspended.json()["suspended_at"] is not None
    # Suspended seats are not seats: nothing can be assigned meanwhile.
    assert await seats(client, world) == {"total": 0, "assigned": 0, "available": 0}
    active = await patch(client, world, sub["id"], {"status": "active", "quantity": 6})
    assert (active.json()["status"], active.json()["quantity"]) == ("active", 6)
    assert await seats(client, world) == {"total": 6, "assigned": 0, "available": 6}
    cancelled = await patch(client, world, sub["id"], {"status": "cancelled"})
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["auto_renew"] is False
    assert await seats(client, world) == {"total": 0, "assigned": 0, "available": 0}
    again = await patch(client, world, sub["id"], {"status": "active"})
    assert (again.status_code, again.json()["code"]) == (409, "subscription_cancelled")
    listed = await client.get(
        world.path("/subscriptions?status=cancelled"), headers=world.customer.auth
    )
    assert [s["id"] for s in listed.json()["items"]] == [sub["id"]]
    # Every change is audited on the customer's behalf and raised as an event.
    records = (
        await session.scalars(
            select(AuditRecord)
            .where(AuditRecord.operation == "subscription_updated")
            .order_by(AuditRecord.at)
        )
    ).all()
    assert [r.detail["changes"]["status"]["to"] for r in records] == [
        "suspended",
        "active",
        "cancelled",
    ]
    assert {str(r.on_behalf_of_customer_id) for r in records} == {world.customer.id}
    events = (
        await session.scalars(select(Event).where(Event.type == "subscription_updated"))
    ).all()
    assert len(events) == 3
    assert all(world.reseller.id in e.audience for e in events)


async def test_cancel_only_within_the_window(client: httpx.AsyncClient, world: World) -> None:
    sub = await subscribe(client, world, 5)
    await travel(client, world, 7 * DAY + 60)
    refused = await patch(client, world, sub["id"], {"status": "cancelled"})
    assert (refused.status_code, refused.json()["code"]) == (409, "cancellation_window_closed")
    # Auto-renew off still lets the customer leave at the end of the term.
    assert (await patch(client, world, sub["id"], {"auto_renew": False})).status_code == 200
    suspended = await patch(client, world, sub["id"], {"status": "suspended"})
    assert suspended.status_code == 200


async def test_suspending_keeps_assignments_but_refuses_new_ones(
    client: httpx.AsyncClient, world: World
) -> None:
    sub = await subscribe(client, world, 2)
    [user] = await assign(client, world, 1)
    assert (await patch(client, world, sub["id"], {"status": "suspended"})).status_code == 200
    assert await seats(client, world) == {"total": 0, "assigned": 1, "available": 0}
    assert (await patch(client, world, sub["id"], {"status": "active"})).status_code == 200
    assert await seats(client, world) == {"total": 2, "assigned": 1, "available": 1}
    mine = await client.get(world.path(f"/users/{user}/licenses"), headers=world.customer.auth)
    assert [lic["sku_id"] for lic in mine.json()["licenses"]] == [world.sku_id]


async def test_only_the_provider_changes_subscriptions(
    client: httpx.AsyncClient, world: World
) -> None:
    sub = await subscribe(client, world, 5)
    for who in (world.reseller, world.customer):
        seen = await client.get(world.path(f"/subscriptions/{sub['id']}"), headers=who.auth)
        assert seen.status_code == 200
        response = await patch(
            client, world, sub["id"], {"quantity": 9}, etag=seen.headers["ETag"], as_=who.auth
        )
        assert response.status_code == 403, response.text
    assert (await read(client, world, sub["id"])).json()["quantity"] == 5


@pytest.mark.committed
async def test_two_concurrent_changes_with_one_etag_one_wins(
    committed_client: httpx.AsyncClient, committed_db: Database, settings: Settings
) -> None:
    operator = await committed_operator(committed_client, committed_db)
    world = await two_tier_world(committed_client, committed_db, settings, operator)
    sub = await subscribe(committed_client, world, 5)
    responses = await asyncio.gather(
        *(
            patch(committed_client, world, sub["id"], {"quantity": q}, etag=sub["etag"])
            for q in (6, 7, 8, 9)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 412, 412, 412]
    winner = next(r for r in responses if r.status_code == 200).json()["quantity"]
    assert (await read(committed_client, world, sub["id"])).json()["quantity"] == winner
    assert await seats(committed_client, world) == {
        "total": winner,
        "assigned": 0,
        "available": winner,
    }
