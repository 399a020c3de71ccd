"""Licenses: seats per SKU from active subscriptions, handed out to the customer's users."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.channel.helpers import approved, user_with_partner_roles
from tests.commerce.helpers import (
    World,
    committed_operator,
    make_offer,
    order_body,
    place_order,
    subscribe,
    two_tier_world,
)
from tests.factories import PASSWORD, make_org, make_user, sign_in, unique
from twotier.audit.models import AuditRecord
from twotier.config import Settings
from twotier.events.models import Event
from twotier.kit.db import Database


async def new_user(client: httpx.AsyncClient, world: World, roles: list[str] | None = None) -> str:
    """A user in the customer's tenant, made by its own admin."""
    response = await client.post(
        "/api/v1/tenant/users",
        json={
            "email": f"{unique('user')}@{world.customer.tenant['domain']}",
            "display_name": "Uma User",
            "password": PASSWORD,
            "roles": roles or [],
        },
        headers=world.customer.auth,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def update(
    client: httpx.AsyncClient,
    world: World,
    user_id: str,
    *,
    add: list[str] | None = None,
    remove: list[str] | None = None,
    auth: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        world.path(f"/users/{user_id}/license-updates"),
        json={"add": add or [], "remove": remove or []},
        headers=auth or world.reseller.auth,
    )


async def counts(client: httpx.AsyncClient, world: World) -> list[tuple[str, int, int, int]]:
    rows = (await client.get(world.path("/licenses"), headers=world.customer.auth)).json()["items"]
    return [(r["sku_name"], r["total"], r["assigned"], r["available"]) for r in rows]


async def test_seats_follow_the_active_subscriptions(
    client: httpx.AsyncClient, world: World, operator: dict[str, str]
) -> None:
    assert await counts(client, world) == []
    await subscribe(client, world, 3)
    await subscribe(client, world, 2)  # a second subscription of the same SKU adds up
    phone = await make_offer(client, operator, product="Contoso Teams", sku="Phone")
    body = order_body(world, 4)
    body["line_items"][0]["offer_id"] = phone["id"]
    assert (await place_order(client, world, body)).status_code == 201
    assert await counts(client, world) == [
        ("Business Standard", 5, 0, 5),
        ("Phone", 4, 0, 4),
    ]
    for who in (world.provider, world.reseller, world.customer):
        response = await client.get(world.path("/licenses"), headers=who.auth)
        assert response.status_code == 200
        assert len(response.json()["items"]) == 2


async def test_seats_come_a_page_at_a_time(
    client: httpx.AsyncClient, world: World, operator: dict[str, str]
) -> None:
    await subscribe(client, world, 3)
    phone = await make_offer(client, operator, product="Contoso Teams", sku="Phone")
    body = order_body(world, 4)
    body["line_items"][0]["offer_id"] = phone["id"]
    assert (await place_order(client, world, body)).status_code == 201
    first = (await client.get(world.path("/licenses?limit=1"), headers=world.customer.auth)).json()
    assert [r["sku_name"] for r in first["items"]] == ["Business Standard"]
    rest = await client.get(
        world.path("/licenses"),
        params={"limit": 1, "cursor": first["next_cursor"]},
        headers=world.customer.auth,
    )
    assert [r["sku_name"] for r in rest.json()["items"]] == ["Phone"]
    assert rest.json()["next_cursor"] is None
    for garbage in ("not-a-cursor", "W1tdXQ", "WzFd"):  # "[[]]", "[1]"
        refused = await client.get(
            world.path("/licenses"), params={"cursor": garbage}, headers=world.customer.auth
        )
        assert (refused.status_code, refused.json()["code"]) == (422, "invalid_cursor")


async def test_reseller_assigns_until_none_are_left(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await subscribe(client, world, 2)
    users = [await new_user(client, world) for _ in range(3)]
    for user in users[:2]:
        response = await update(client, world, user, add=[world.sku_id])
        assert response.status_code == 200, response.text
        assert [lic["sku_name"] for lic in response.json()["licenses"]] == ["Business Standard"]
    refused = await update(client, world, users[2], add=[world.sku_id])
    assert (refused.status_code, refused.json()["code"]) == (409, "no_seats_available")
    assert "No Business Standard licenses are left" in refused.json()["detail"]
    assert await counts(client, world) == [("Business Standard", 2, 2, 0)]
    # Assigning again to someone who has one changes nothing and costs no seat.
    assert (await update(client, world, users[0], add=[world.sku_id])).status_code == 200
    # Giving one back frees its seat for someone else.
    freed = await update(client, world, users[0], remove=[world.sku_id])
    assert freed.json()["licenses"] == []
    assert (await update(client, world, users[2], add=[world.sku_id])).status_code == 200
    assert await counts(client, world) == [("Business Standard", 2, 2, 0)]

    delegated = (
        await session.scalars(
            select(AuditRecord).where(AuditRecord.operation == "license_assigned")
        )
    ).all()
    assert len(delegated) == 3
    assert {str(r.on_behalf_of_customer_id) for r in delegated} == {world.customer.id}
    assert {str(r.subject_tenant_id) for r in delegated} == {world.customer.id}
    events = (await session.scalars(select(Event).where(Event.type == "license_assigned"))).all()
    assert len(events) == 3
    assert all(str(e.on_behalf_of_customer_id) == world.customer.id for e in events)
    assert all(world.provider.id in e.audience for e in events)
    assert {e.partner_id for e in events} == {delegated[0].actor_partner_id}


async def test_a_refused_update_changes_nothing(
    client: httpx.AsyncClient, world: World, operator: dict[str, str]
) -> None:
    """All or nothing: the seat that fit is not taken when another SKU has none."""
    await subscribe(client, world, 1)
    empty = await make_offer(client, operator, product="Contoso Archive", sku="Archive")
    user = await new_user(client, world)
    refused = await update(client, world, user, add=[world.sku_id, empty["sku_id"]])
    assert (refused.status_code, refused.json()["code"]) == (409, "no_seats_available")
    assert await counts(client, world) == [("Business Standard", 1, 0, 1)]
    mine = await client.get(world.path(f"/users/{user}/licenses"), headers=world.reseller.auth)
    assert mine.json()["licenses"] == []


async def test_unknown_skus_and_contradictions_are_invalid(
    client: httpx.AsyncClient, world: World
) -> None:
    await subscribe(client, world, 1)
    user = await new_user(client, world)
    unknown = await update(client, world, user, add=[str(uuid.uuid4())])
    assert (unknown.status_code, unknown.json()["code"]) == (422, "sku_not_found")
    both = await update(client, world, user, add=[world.sku_id], remove=[world.sku_id])
    assert both.status_code == 422


async def test_the_customers_own_admins_manage_licenses(
    client: httpx.AsyncClient, world: World
) -> None:
    await subscribe(client, world, 2)
    user = await new_user(client, world)
    license_admin, token = await make_user(client, world.customer, ["license_admin"])
    response = await update(
        client, world, user, add=[world.sku_id], auth={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    _helpdesk, helpdesk_token = await make_user(client, world.customer, ["helpdesk_admin"])
    refused = await update(
        client,
        world,
        user,
        remove=[world.sku_id],
        auth={"Authorization": f"Bearer {helpdesk_token}"},
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "insufficient_role")
    assert license_admin["id"] != user


async def test_a_partner_needs_a_license_admin_grant_and_an_admin_agent(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
) -> None:
    world = await two_tier_world(client, db, settings, operator)
    await subscribe(client, world, 2)
    user = await new_user(client, world)
    grants = (
        await client.get(world.path("/delegated-access"), headers=world.reseller.auth)
    ).json()["items"]
    dropped = await client.post(
        world.path(f"/delegated-access/{grants[0]['id']}/drop-roles"),
        json={"roles": ["license_admin"]},
        headers=world.reseller.auth,
    )
    assert dropped.status_code == 200, dropped.text
    refused = await update(client, world, user, add=[world.sku_id])
    assert (refused.status_code, refused.json()["code"]) == (403, "delegated_access_missing")
    # The provider still has license admin, but its sales agents cannot act.
    sales = await user_with_partner_roles(client, world.provider, ["sales_agent"])
    refused = await update(client, world, user, add=[world.sku_id], auth=sales)
    assert (refused.status_code, refused.json()["code"]) == (403, "insufficient_role")
    assert (
        await update(client, world, user, add=[world.sku_id], auth=world.provider.auth)
    ).status_code == 200


async def test_strangers_and_other_tenants_users_get_404(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    world: World,
) -> None:
    await subscribe(client, world, 2)
    user = await new_user(client, world)
    stranger = await approved(client, db, settings, operator, "indirect_reseller", "Stranger")
    plain = await make_org(client)
    for who in (stranger, plain):
        response = await update(client, world, user, add=[world.sku_id], auth=who.auth)
        assert response.status_code == 404, response.text
        mine = await client.get(world.path(f"/users/{user}/licenses"), headers=who.auth)
        assert mine.status_code == 404
    outsider, _ = await make_user(client, plain)
    response = await update(client, world, outsider["id"], add=[world.sku_id])
    assert (response.status_code, response.json()["code"]) == (404, "user_not_found")
    assert await counts(client, world) == [("Business Standard", 2, 0, 2)]


async def test_removing_a_user_gives_its_seat_back(client: httpx.AsyncClient, world: World) -> None:
    await subscribe(client, world, 1)
    user = await new_user(client, world)
    assert (await update(client, world, user, add=[world.sku_id])).status_code == 200
    assert await counts(client, world) == [("Business Standard", 1, 1, 0)]
    removed = await client.delete(world.path(f"/users/{user}"), headers=world.reseller.auth)
    assert removed.status_code == 204, removed.text
    assert await counts(client, world) == [("Business Standard", 1, 0, 1)]


@pytest.mark.committed
async def test_two_concurrent_assignments_cannot_both_take_the_last_seat(
    committed_client: httpx.AsyncClient, committed_db: Database, settings: Settings
) -> None:
    operator = await committed_operator(committed_client, committed_db)
    world = await two_tier_world(committed_client, committed_db, settings, operator)
    await subscribe(committed_client, world, 3)
    users = [await new_user(committed_client, world) for _ in range(8)]
    world.reseller.token = await sign_in(committed_client, world.reseller.email)
    responses = await asyncio.gather(
        *(update(committed_client, world, user, add=[world.sku_id]) for user in users)
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 3 + [409] * 5, [r.text for r in responses]
    assert await counts(committed_client, world) == [("Business Standard", 3, 3, 0)]
