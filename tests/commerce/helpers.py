from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.customers.helpers import customer_of, linked_pair
from tests.factories import OPERATOR_PASSWORD, Org, sign_in, unique
from twotier.config import Settings
from twotier.kit.db import Database


async def make_offer(
    client: httpx.AsyncClient,
    operator: dict[str, str],
    *,
    product: str = "Contoso 365",
    sku: str = "Business Standard",
    prices: list[dict[str, str]] | None = None,
    **offer: Any,
) -> dict[str, Any]:
    """A product with one SKU and one offer (priced in TW, the test tenants' country)."""
    response = await client.post(
        "/api/v1/operator/products",
        json={"name": product, "description": "Mail and docs", "skus": [{"name": sku}]},
        headers=operator,
    )
    assert response.status_code == 201, response.text
    body = {
        "sku_id": response.json()["skus"][0]["id"],
        "name": f"{sku} (annual)",
        "billing_cycle": "monthly",
        "term": "P1Y",
        "prices": prices or [{"country": "TW", "currency": "TWD", "unit_price": "375.50"}],
    } | offer
    response = await client.post("/api/v1/operator/offers", json=body, headers=operator)
    assert response.status_code == 201, response.text
    return dict(response.json())


@dataclass
class World:
    provider: Org
    reseller: Org
    customer: Org
    provider_account_id: str
    reseller_account_id: str
    reseller_partner_id: str
    offer: dict[str, Any]

    @property
    def sku_id(self) -> str:
        return str(self.offer["sku_id"])

    def path(self, rest: str = "") -> str:
        return f"/api/v1/customers/{self.customer.id}{rest}"


async def two_tier_world(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    **offer: Any,
) -> World:
    """Provider and reseller linked, a two-tier customer, and an offer sold in its country."""
    provider, reseller, provider_id, reseller_id = await linked_pair(client, db, settings, operator)
    customer = await customer_of(client, reseller, provider_id)
    partner_id = (await client.get("/api/v1/partner", headers=reseller.auth)).json()["partner_id"]
    return World(
        provider,
        reseller,
        customer,
        provider_id,
        reseller_id,
        partner_id,
        await make_offer(client, operator, **offer),
    )


def order_body(world: World, quantity: int = 5, **extra: Any) -> dict[str, Any]:
    return {
        "line_items": [
            {
                "offer_id": world.offer["id"],
                "quantity": quantity,
                "partner_id_on_record": world.reseller_partner_id,
            }
        ],
        "attestation_accepted": True,
    } | extra


async def place_order(
    client: httpx.AsyncClient,
    world: World,
    body: dict[str, Any] | None = None,
    *,
    as_: Org | None = None,
    key: str | None = None,
) -> httpx.Response:
    return await client.post(
        world.path("/orders"),
        json=body or order_body(world),
        headers=(as_ or world.provider).auth | {"Idempotency-Key": key or str(uuid.uuid4())},
    )


async def subscribe(client: httpx.AsyncClient, world: World, quantity: int = 5) -> dict[str, Any]:
    response = await place_order(client, world, order_body(world, quantity))
    assert response.status_code == 201, response.text
    return dict(response.json()["subscriptions"][0])


async def committed_operator(client: httpx.AsyncClient, db: Database) -> dict[str, str]:
    """An operator in a database whose commits stick (its sign-in needs the write lock)."""
    from twotier.operator.service import create_operator

    email = f"{unique('ops')}@vendor.example"
    async with db.write_sessions() as s, s.begin():
        await create_operator(s, email=email, password=OPERATOR_PASSWORD, name="Ops")
    return {"Authorization": f"Bearer {await sign_in(client, email, OPERATOR_PASSWORD)}"}


async def travel(client: httpx.AsyncClient, world: World, seconds: float) -> None:
    """Move the clock, then sign everyone in again (access tokens expire meanwhile)."""
    from twotier.kit import clock

    clock.travel(seconds)
    for org in (world.provider, world.reseller, world.customer):
        org.token = await sign_in(client, org.email, org.password)
