"""Orders a provider submits on behalf of a customer, with the reseller as partner of record."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.channel.helpers import approved, make_admin_agent, user_with_partner_roles
from tests.commerce.helpers import (
    World,
    committed_operator,
    make_offer,
    order_body,
    place_order,
    two_tier_world,
)
from tests.customers.helpers import customer_of, linked_pair
from tests.factories import make_org
from tests.statements import statements
from twotier.audit.models import AuditRecord
from twotier.commerce.models import Order, SeatPool, Subscription
from twotier.config import Settings
from twotier.events.models import Event
from twotier.kit.db import Database


async def test_provider_orders_for_the_customer_naming_the_reseller(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    response = await place_order(client, world, order_body(world, 7))
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "completed"
    assert order["customer_id"] == world.customer.id
    assert order["indirect_provider"]["id"] == world.provider_account_id
    [line] = order["line_items"]
    assert line["partner_id_on_record"] == world.reseller_partner_id
    assert (line["quantity"], line["unit_price"], line["currency"], line["amount"]) == (
        7,
        "375.50",
        "TWD",
        "2628.50",
    )
    [sub] = order["subscriptions"]
    assert sub["id"] == line["subscription_id"]
    assert (sub["status"], sub["quantity"], sub["auto_renew"]) == ("active", 7, True)
    assert sub["indirect_reseller"]["id"] == world.reseller_account_id
    assert sub["partner_id_on_record"] == world.reseller_partner_id

    # Provider, reseller and the customer itself all see the order and its subscription.
    for who in (world.provider, world.reseller, world.customer):
        orders = (await client.get(world.path("/orders"), headers=who.auth)).json()["items"]
        assert [o["id"] for o in orders] == [order["id"]]
        one = await client.get(world.path(f"/orders/{order['id']}"), headers=who.auth)
        assert one.json()["line_items"] == order["line_items"]
        subs = (await client.get(world.path("/subscriptions"), headers=who.auth)).json()
        assert [s["id"] for s in subs["items"]] == [sub["id"]]

    record = await session.scalar(
        select(AuditRecord).where(AuditRecord.operation == "order_created")
    )
    assert record is not None
    assert record.on_behalf_of_customer_id == uuid.UUID(world.customer.id)
    assert record.actor_partner_id is not None
    assert record.detail["lines"][0]["partner_id_on_record"] == world.reseller_partner_id
    event = await session.scalar(select(Event).where(Event.type == "order_created"))
    assert event is not None
    assert event.on_behalf_of_customer_id == uuid.UUID(world.customer.id)
    assert event.resource_uri == f"/api/v1/customers/{world.customer.id}/orders/{order['id']}"
    assert event.actor is not None
    assert event.actor["partner_id"] == record.actor_partner_id
    assert world.customer.id in event.audience
    assert world.reseller.id in event.audience
    assert world.provider.id in event.audience


async def test_an_order_creates_one_subscription_per_line(
    client: httpx.AsyncClient, world: World, operator: dict[str, str]
) -> None:
    other = await make_offer(client, operator, product="Contoso Teams", sku="Phone")
    body = order_body(world, 3)
    body["line_items"].append(
        {"offer_id": other["id"], "quantity": 2, "partner_id_on_record": world.reseller_partner_id}
    )
    order = (await place_order(client, world, body)).json()
    assert [line["line_number"] for line in order["line_items"]] == [1, 2]
    assert [(s["sku_name"], s["quantity"]) for s in order["subscriptions"]] == [
        ("Business Standard", 3),
        ("Phone", 2),
    ]


async def test_idempotency_key_is_required_and_replays_the_same_order(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    missing = await client.post(
        world.path("/orders"), json=order_body(world), headers=world.provider.auth
    )
    assert (missing.status_code, missing.json()["code"]) == (428, "idempotency_key_required")
    first = await place_order(client, world, key="order-1")
    again = await place_order(client, world, key="order-1")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await place_order(client, world, order_body(world, 9), key="order-1")
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert await session.scalar(select(func.count()).select_from(Order)) == 1
    assert await session.scalar(select(func.count()).select_from(Subscription)) == 1


async def test_attestation_must_be_accepted(client: httpx.AsyncClient, world: World) -> None:
    response = await place_order(client, world, order_body(world, attestation_accepted=False))
    assert (response.status_code, response.json()["code"]) == (422, "attestation_required")
    assert (await client.get(world.path("/orders"), headers=world.provider.auth)).json()[
        "items"
    ] == []


async def test_offer_must_exist_be_sold_in_the_customers_country_and_fit_its_limits(
    client: httpx.AsyncClient, world: World, operator: dict[str, str]
) -> None:
    german = await make_offer(
        client, operator, prices=[{"country": "DE", "currency": "EUR", "unit_price": "9"}]
    )
    body = order_body(world)
    body["line_items"][0]["offer_id"] = german["id"]
    response = await place_order(client, world, body)
    assert (response.status_code, response.json()["code"]) == (
        422,
        "offer_not_available_in_country",
    )
    body["line_items"][0]["offer_id"] = str(uuid.uuid4())
    response = await place_order(client, world, body)
    assert (response.status_code, response.json()["code"]) == (422, "offer_not_found")
    limited = await make_offer(client, operator, min_quantity=5, max_quantity=10)
    body["line_items"][0]["offer_id"] = limited["id"]
    for quantity in (4, 11):
        body["line_items"][0]["quantity"] = quantity
        response = await place_order(client, world, body)
        assert (response.status_code, response.json()["code"]) == (422, "quantity_out_of_range")


async def test_partner_on_record_must_be_a_linked_reseller_serving_the_customer(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    world: World,
) -> None:
    async def refused(partner_id: str) -> None:
        body = order_body(world)
        body["line_items"][0]["partner_id_on_record"] = partner_id
        response = await place_order(client, world, body)
        assert (response.status_code, response.json()["code"]) == (
            422,
            "partner_on_record_invalid",
        ), partner_id

    await refused("9999999")  # nobody
    provider_partner_id = (await client.get("/api/v1/partner", headers=world.provider.auth)).json()[
        "partner_id"
    ]
    await refused(provider_partner_id)  # not a reseller
    # A reseller that serves the customer but is not linked to this provider.
    stranger = await approved(client, db, settings, operator, "indirect_reseller", "Tailspin")
    stranger_pid = (await client.get("/api/v1/partner", headers=stranger.auth)).json()["partner_id"]
    await refused(stranger_pid)

    # The link ends: the reseller cannot be partner of record any more.
    ended = await client.delete(
        f"/api/v1/indirect-resellers/{world.reseller_account_id}", headers=world.provider.auth
    )
    assert ended.status_code in (200, 204), ended.text
    await refused(world.reseller_partner_id)


async def test_reseller_without_a_relationship_cannot_be_partner_of_record(
    client: httpx.AsyncClient, world: World
) -> None:
    ended = await client.delete(
        f"/api/v1/customers/{world.customer.id}/relationship", headers=world.reseller.auth
    )
    assert ended.status_code == 204
    response = await place_order(client, world)
    assert (response.status_code, response.json()["code"]) == (422, "partner_on_record_invalid")


async def test_provider_without_a_relationship_gets_404(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    world: World,
) -> None:
    other = await approved(client, db, settings, operator, "indirect_provider", "Other Distri")
    response = await place_order(client, world, as_=other)
    assert (response.status_code, response.json()["code"]) == (404, "customer_not_found")
    # The customer removes the provider: its orders stop at once.
    partners = (await client.get("/api/v1/my/partners", headers=world.customer.auth)).json()
    removed = await client.delete(
        f"/api/v1/my/partners/{world.provider_account_id}", headers=world.customer.auth
    )
    assert removed.status_code == 204, (removed.text, partners)
    response = await place_order(client, world)
    assert response.status_code == 404


async def test_resellers_customers_and_other_agents_cannot_order(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await place_order(client, world, as_=world.reseller)
    assert (response.status_code, response.json()["code"]) == (403, "not_an_indirect_provider")
    response = await place_order(client, world, as_=world.customer)
    assert response.status_code == 403
    sales = await user_with_partner_roles(client, world.provider, ["sales_agent"])
    response = await client.post(
        world.path("/orders"),
        json=order_body(world),
        headers=sales | {"Idempotency-Key": "k"},
    )
    assert (response.status_code, response.json()["code"]) == (403, "insufficient_role")


async def test_strangers_see_no_orders(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    world: World,
) -> None:
    order = (await place_order(client, world)).json()
    stranger = await approved(client, db, settings, operator, "indirect_reseller", "Stranger")
    plain = await make_org(client)
    for who in (stranger, plain):
        for path in (
            "/orders",
            f"/orders/{order['id']}",
            "/subscriptions",
            f"/subscriptions/{order['subscriptions'][0]['id']}",
            "/licenses",
        ):
            response = await client.get(world.path(path), headers=who.auth)
            assert response.status_code == 404, (path, response.text)
        changed = await client.patch(
            world.path(f"/subscriptions/{order['subscriptions'][0]['id']}"),
            json={"quantity": 50},
            headers=who.auth | {"If-Match": order["subscriptions"][0]["etag"]},
        )
        assert changed.status_code == 404, changed.text
        # Who is no provider is refused for what it is, whatever the customer.
        choices = await client.get(world.path("/resellers-of-record"), headers=who.auth)
        assert choices.status_code == 403
    # A provider that does not serve this customer cannot list its resellers either.
    other_provider = await approved(client, db, settings, operator, "indirect_provider", "Other")
    response = await client.get(world.path("/resellers-of-record"), headers=other_provider.auth)
    assert (response.status_code, response.json()["code"]) == (404, "customer_not_found")
    response = await client.patch(
        world.path(f"/subscriptions/{order['subscriptions'][0]['id']}"),
        json={"quantity": 50},
        headers=other_provider.auth | {"If-Match": order["subscriptions"][0]["etag"]},
    )
    assert response.status_code == 404
    unchanged = await client.get(
        world.path(f"/subscriptions/{order['subscriptions'][0]['id']}"), headers=world.customer.auth
    )
    assert unchanged.json()["quantity"] == 5
    # Another customer's id in the path hides this order too.
    other_customer = await customer_of(client, world.reseller, name="Wide World")
    response = await client.get(
        f"/api/v1/customers/{other_customer.id}/orders/{order['id']}", headers=world.provider.auth
    )
    assert response.status_code == 404


async def test_a_second_reseller_of_the_same_customer_does_not_see_the_firsts_sales(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    world: World,
) -> None:
    order = (await place_order(client, world)).json()
    # Another reseller, linked to the same provider, serving the same customer.
    second = await approved(client, db, settings, operator, "indirect_reseller", "Second")
    from tests.channel.helpers import accept, invite

    assert (await accept(client, second, await invite(client, world.provider))).status_code == 200
    from tests.customers.helpers import accept_as_customer, invite_customer

    invitation = await invite_customer(client, second, world.provider_account_id)
    assert (await accept_as_customer(client, world.customer, invitation)).status_code == 200
    assert (await client.get(world.path("/orders"), headers=second.auth)).json()["items"] == []
    response = await client.get(
        world.path(f"/subscriptions/{order['subscriptions'][0]['id']}"), headers=second.auth
    )
    assert response.status_code == 404
    choices = (
        await client.get(world.path("/resellers-of-record"), headers=world.provider.auth)
    ).json()
    assert [c["company_name"] for c in choices["items"]] == ["Fabrikam Resellers", "Second"]
    # One order, a line for each reseller: each reseller sees only its own line.
    second_pid = (await client.get("/api/v1/partner", headers=second.auth)).json()["partner_id"]
    body = order_body(world, 2)
    body["line_items"].append(body["line_items"][0] | {"partner_id_on_record": second_pid})
    mixed = await place_order(client, world, body)
    assert mixed.status_code == 201, mixed.text
    seen = (await client.get(world.path("/orders"), headers=second.auth)).json()["items"]
    assert [o["id"] for o in seen] == [mixed.json()["id"]]
    assert [line["partner_id_on_record"] for line in seen[0]["line_items"]] == [second_pid]
    assert len(seen[0]["subscriptions"]) == 1
    full = await client.get(
        world.path(f"/orders/{mixed.json()['id']}"), headers=world.provider.auth
    )
    assert len(full.json()["line_items"]) == 2


@pytest.mark.committed
async def test_fifty_concurrent_identical_orders_create_one(
    committed_client: httpx.AsyncClient,
    committed_db: Database,
    settings: Settings,
) -> None:
    operator = await committed_operator(committed_client, committed_db)
    world = await two_tier_world(committed_client, committed_db, settings, operator)
    responses = await asyncio.gather(
        *(place_order(committed_client, world, key="same-order") for _ in range(50))
    )
    assert {r.status_code for r in responses} == {201}, {r.text for r in responses}
    assert len({r.json()["id"] for r in responses}) == 1
    async with committed_db.read_sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Order)) == 1
        assert await s.scalar(select(func.count()).select_from(Subscription)) == 1


async def test_a_provider_that_is_also_linked_can_place_a_second_order(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
) -> None:
    provider, reseller, provider_id, _ = await linked_pair(client, db, settings, operator)
    await make_admin_agent(client, provider)
    customer = await customer_of(client, reseller, provider_id)
    offer = await make_offer(client, operator)
    partner_id = (await client.get("/api/v1/partner", headers=reseller.auth)).json()["partner_id"]
    for key in ("a", "b"):
        response = await client.post(
            f"/api/v1/customers/{customer.id}/orders",
            json={
                "line_items": [
                    {"offer_id": offer["id"], "quantity": 1, "partner_id_on_record": partner_id}
                ],
                "attestation_accepted": True,
            },
            headers=provider.auth | {"Idempotency-Key": key},
        )
        assert response.status_code == 201
    listed = await client.get(
        f"/api/v1/customers/{customer.id}/orders?limit=1", headers=provider.auth
    )
    assert len(listed.json()["items"]) == 1
    assert listed.json()["next_cursor"]


async def test_lists_cost_the_same_number_of_queries_for_one_order_or_many(
    client: httpx.AsyncClient, engine: AsyncEngine, world: World
) -> None:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.upper().startswith(("SAVEPOINT", "RELEASE", "BEGIN")):
            statements.append(statement)

    async def cost(path: str) -> int:
        statements.clear()
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        try:
            response = await client.get(world.path(path), headers=world.reseller.auth)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", count)
        assert response.status_code == 200
        return len(statements)

    assert (await place_order(client, world)).status_code == 201
    one = {path: await cost(path) for path in ("/orders", "/subscriptions")}
    for _ in range(4):
        assert (await place_order(client, world)).status_code == 201
    assert {path: await cost(path) for path in ("/orders", "/subscriptions")} == one


async def test_a_retired_offer_is_no_longer_sold_but_its_subscriptions_go_on(
    client: httpx.AsyncClient, operator: dict[str, str], world: World
) -> None:
    order = (await place_order(client, world)).json()
    retired = await client.post(
        f"/api/v1/operator/offers/{world.offer['id']}/retire", headers=operator
    )
    assert (retired.status_code, retired.json()["status"]) == (200, "retired")
    offers = await client.get("/api/v1/offers?country=TW", headers=world.provider.auth)
    assert offers.json()["items"] == []
    response = await place_order(client, world)
    assert (response.status_code, response.json()["code"]) == (422, "offer_not_found")
    sub = await client.get(
        world.path(f"/subscriptions/{order['subscriptions'][0]['id']}"), headers=world.customer.auth
    )
    assert sub.json()["status"] == "active"
    refused = await client.post(
        f"/api/v1/operator/offers/{world.offer['id']}/retire", headers=world.provider.auth
    )
    assert refused.status_code == 403
    missing = await client.post(f"/api/v1/operator/offers/{uuid.uuid4()}/retire", headers=operator)
    assert missing.status_code == 404


async def test_an_orders_answer_is_what_reading_it_back_shows(
    client: httpx.AsyncClient, session: AsyncSession, world: World, operator: dict[str, str]
) -> None:
    other = await make_offer(client, operator, product="Contoso Teams", sku="Phone")
    body = order_body(world, 3)
    body["line_items"] += [
        {"offer_id": other["id"], "quantity": 2, "partner_id_on_record": world.reseller_partner_id},
        {
            "offer_id": world.offer["id"],
            "quantity": 4,
            "partner_id_on_record": world.reseller_partner_id,
        },
    ]
    response = await place_order(client, world, body)
    assert response.status_code == 201, response.text
    order = response.json()
    assert [line["quantity"] for line in order["line_items"]] == [3, 2, 4]
    read = await client.get(world.path(f"/orders/{order['id']}"), headers=world.provider.auth)
    assert read.json() == order
    for sub in order["subscriptions"]:
        one = await client.get(
            world.path(f"/subscriptions/{sub['id']}"), headers=world.provider.auth
        )
        assert one.json() == sub
    # Seats: one pool per SKU, its total the lines' quantities of that SKU.
    rows = await session.execute(
        select(SeatPool.sku_id, SeatPool.total).where(
            SeatPool.customer_tenant_id == uuid.UUID(world.customer.id)
        )
    )
    pools = {sku_id: total for sku_id, total in rows}
    assert pools == {
        uuid.UUID(world.offer["sku_id"]): 7,
        uuid.UUID(other["sku_id"]): 2,
    }
    again = await place_order(client, world, order_body(world, 1))
    assert again.status_code == 201
    total = await session.scalar(
        select(SeatPool.total).where(SeatPool.sku_id == uuid.UUID(world.offer["sku_id"]))
    )
    assert total == 8


def _shape(sql: str) -> str:
    """``INSERT orders``, ``SELECT webhook_endpoints``: a statement's verb and first table."""
    words = sql.replace("\n", " ").split()
    verb = words[0].upper()
    after = {"INSERT": "INTO", "UPDATE": "UPDATE", "SELECT": "FROM"}[verb]
    return f"{verb} {words[words.index(after) + 1]}"


async def test_an_order_is_eleven_statements_whatever_its_lines(
    client: httpx.AsyncClient, engine: AsyncEngine, world: World, operator: dict[str, str]
) -> None:
    other = await make_offer(client, operator, product="Contoso Teams", sku="Phone")
    with statements(engine) as one:
        assert (await place_order(client, world)).status_code == 201
    assert [_shape(s) for s in one] == [
        "SELECT users",  # the principal
        "INSERT idempotency_keys",  # the key, taken (nothing when another request has it)
        # The provider's relationship with the customer's country, joined to every line's
        # offer (SKU, product, price) and every reseller of record (linked and related).
        "SELECT customer_relationships",
        "INSERT orders",
        "INSERT subscriptions",
        "INSERT order_lines",
        "INSERT seat_pools",  # one per SKU: created or added to
        "SELECT webhook_endpoints",  # once for all the change's events
        "INSERT audit_records",  # written as made, not by the ORM at commit
        "INSERT events",  # every event in one round trip
        "UPDATE idempotency_keys",  # the answer kept for a retry
    ]
    body = order_body(world, 3)
    body["line_items"] += [
        {"offer_id": other["id"], "quantity": 2, "partner_id_on_record": world.reseller_partner_id},
        {
            "offer_id": world.offer["id"],
            "quantity": 1,
            "partner_id_on_record": world.reseller_partner_id,
        },
    ]
    with statements(engine) as three:
        assert (await place_order(client, world, body)).status_code == 201
    # Three lines on two SKUs: one seat pool statement more, nothing else.
    shapes = [_shape(s) for s in one]
    shapes.insert(shapes.index("INSERT seat_pools"), "INSERT seat_pools")
    assert [_shape(s) for s in three] == shapes
