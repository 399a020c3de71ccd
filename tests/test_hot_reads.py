"""The hot reads (#13): each is the principal's lookup and one query, whoever asks and
however many rows the answer holds. A test fails when one more statement appears."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.commerce.helpers import World, subscribe, two_tier_world
from tests.customers.helpers import customer_of
from tests.factories import Org
from tests.statements import statements
from twotier.commerce.schemas import SubscriptionOut
from twotier.config import Settings
from twotier.customers.schemas import CustomerDetail, CustomerOut
from twotier.directory.schemas import MeOut
from twotier.kit.db import Database
from twotier.kit.pagination import Page


@dataclass
class Read:
    name: str
    who: str  # "provider", "reseller" or "customer"
    path: str  # with {customer}, {provider}, {reseller} from the world
    rows: int  # how many items (or, for one thing, 1) the answer shows in the grown world
    model: type[BaseModel]  # what the answer is documented as


CUSTOMERS = Page[CustomerOut]
SUBSCRIPTIONS = Page[SubscriptionOut]
READS = [
    Read("customer page", "reseller", "/api/v1/customers", 3, CUSTOMERS),
    Read("customer page", "provider", "/api/v1/customers", 1, CUSTOMERS),
    Read("customer page with q=", "reseller", "/api/v1/customers?q=north", 1, CUSTOMERS),
    Read("customer page with q= on the domain", "reseller", "/api/v1/customers?q={domain}", 1,
         CUSTOMERS),
    Read("customer by id", "reseller", "/api/v1/customers/{customer}", 1, CustomerDetail),
    Read("customer by id", "provider", "/api/v1/customers/{customer}", 1, CustomerDetail),
    Read("/me", "reseller", "/api/v1/me", 1, MeOut),
    Read("/me", "customer", "/api/v1/me", 1, MeOut),
    Read("shared customers", "provider", "/api/v1/indirect-resellers/{reseller}/customers", 1,
         CUSTOMERS),
    Read("shared customers", "reseller", "/api/v1/indirect-providers/{provider}/customers", 1,
         CUSTOMERS),
    Read("subscriptions", "reseller", "/api/v1/customers/{customer}/subscriptions", 2,
         SUBSCRIPTIONS),
    Read("subscriptions", "provider", "/api/v1/customers/{customer}/subscriptions", 2,
         SUBSCRIPTIONS),
    Read("subscriptions", "customer", "/api/v1/customers/{customer}/subscriptions", 2,
         SUBSCRIPTIONS),
]  # fmt: skip


@pytest.fixture
async def world(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> World:
    return await two_tier_world(client, db, settings, operator)


async def _grow(client: httpx.AsyncClient, world: World) -> None:
    """More of everything the reads answer with: subscriptions, direct customers."""
    await subscribe(client, world, quantity=2)
    await subscribe(client, world, quantity=3)
    for n in range(2):
        await customer_of(client, world.reseller, None, name=f"Adatum {n} Corp")


def _shown(body: dict[str, Any]) -> int:
    return len(body["items"]) if "items" in body else 1


async def _cost(
    client: httpx.AsyncClient, engine: AsyncEngine, world: World, read: Read
) -> tuple[int, int, list[str], bytes]:
    org: Org = getattr(world, read.who)
    customer = await client.get("/api/v1/me", headers=world.customer.auth)
    path = read.path.format(
        customer=world.customer.id,
        provider=world.provider_account_id,
        reseller=world.reseller_account_id,
        domain=customer.json()["tenant"]["domain"].split(".")[0].upper(),
    )
    with statements(engine) as seen:
        response = await client.get(path, headers=org.auth)
    assert response.status_code == 200, response.text
    return _shown(response.json()), len(seen), seen, response.content


@pytest.mark.parametrize("read", READS, ids=lambda r: f"{r.name} as {r.who}")
async def test_a_hot_read_is_the_principal_and_one_query(
    client: httpx.AsyncClient, engine: AsyncEngine, world: World, read: Read
) -> None:
    await _grow(client, world)
    shown, count, seen, body = await _cost(client, engine, world, read)
    assert shown == read.rows
    assert count == 2, "\n\n".join(seen)  # the principal, then the answer
    # Read on the driver's connection (kit.fastread), written by orjson (kit.fastjson) or
    # pydantic: byte for byte what pydantic writes for the documented model.
    assert read.model.model_validate_json(body).model_dump_json(by_alias=True).encode() == body


async def test_the_count_does_not_grow_with_the_rows(
    client: httpx.AsyncClient, engine: AsyncEngine, world: World
) -> None:
    await subscribe(client, world, quantity=1)
    subscriptions = next(r for r in READS if r.name == "subscriptions")
    small = await _cost(client, engine, world, subscriptions)
    await _grow(client, world)
    grown = await _cost(client, engine, world, subscriptions)
    assert (small[0], grown[0]) == (1, 3)
    assert small[1] == grown[1] == 2
