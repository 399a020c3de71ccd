"""The customer list and record read what they show in one query each, whatever the count."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.customers.helpers import customer_of, linked_pair
from tests.factories import Org, make_operator
from tests.statements import statements
from twotier.config import Settings
from twotier.kit.db import Database


@pytest.fixture
async def pair(
    client: httpx.AsyncClient, db: Database, settings: Settings, session: AsyncSession
) -> tuple[Org, Org, str, str]:
    return await linked_pair(client, db, settings, await make_operator(client, session))


def _reads_of(seen: list[str], table: str) -> int:
    return sum(1 for s in seen if s.lstrip().upper().startswith("SELECT") and table in s)


async def test_the_customer_list_is_one_read_for_one_customer_or_five(
    client: httpx.AsyncClient, engine: AsyncEngine, pair: tuple[Org, Org, str, str]
) -> None:
    _provider, reseller, provider_id, _ = pair

    async def cost() -> tuple[int, int, int]:
        with statements(engine) as seen:
            response = await client.get("/api/v1/customers", headers=reseller.auth)
        assert response.status_code == 200
        return len(response.json()["items"]), len(seen), _reads_of(seen, "customer_relationships")

    await customer_of(client, reseller, provider_id, name="Northwind Traders")
    shown, one, relationship_reads = await cost()
    assert (shown, relationship_reads) == (1, 1)
    for n in range(4):
        await customer_of(client, reseller, None, name=f"Customer {n} Ltd")
    shown, five, relationship_reads = await cost()
    assert (shown, relationship_reads) == (5, 1)
    assert five == one == 2  # the principal, then the page


async def test_the_customer_record_reads_the_customer_and_its_grants_in_one_query(
    client: httpx.AsyncClient, engine: AsyncEngine, pair: tuple[Org, Org, str, str]
) -> None:
    _provider, reseller, provider_id, reseller_id = pair
    customer = await customer_of(client, reseller, provider_id)
    customer_id = (await client.get("/api/v1/me", headers=customer.auth)).json()["tenant"]["id"]
    with statements(engine) as seen:
        response = await client.get(f"/api/v1/customers/{customer_id}", headers=reseller.auth)
    assert response.status_code == 200
    body = response.json()
    assert body["relationship"]["kind"] == "two_tier"
    assert body["relationship"]["indirect_provider"]["id"] == provider_id
    [grant] = body["access"]
    assert grant["status"] == "active"
    assert grant["partner"]["id"] == reseller_id
    # Besides the principal's lookup: one query, the customer row joined to the grants.
    answer = [st for st in seen if "access_tokens" not in st]
    assert len(answer) == 1, answer
    assert "customer_relationships" in answer[0]
    assert "delegated_access_grants" in answer[0]


async def test_q_is_a_case_insensitive_prefix_of_the_name_or_the_domain_in_any_script(
    client: httpx.AsyncClient, pair: tuple[Org, Org, str, str]
) -> None:
    _provider, reseller, provider_id, _ = pair
    names = [
        "Northwind Traders",
        "北風貿易股份有限公司",
        "Ärzte Nord GmbH",
        "100%_Cloud Ltd",
        "Contoso North",
    ]
    domains = {}
    for name in names:
        customer = await customer_of(client, reseller, provider_id, name=name)
        domains[name] = customer.tenant["domain"]

    async def found(q: str) -> list[str]:
        response = await client.get("/api/v1/customers", params={"q": q}, headers=reseller.auth)
        assert response.status_code == 200, response.text
        return sorted(c["company_name"] for c in response.json()["items"])

    assert await found("north") == ["Northwind Traders"]  # a prefix, not a substring
    assert await found("  NORTHWIND t") == ["Northwind Traders"]
    assert await found("北風") == ["北風貿易股份有限公司"]
    assert await found("ärzte") == await found("ÄRZTE") == ["Ärzte Nord GmbH"]
    assert await found("100%_") == ["100%_Cloud Ltd"]
    assert await found("10_") == await found("%") == []  # LIKE's wildcards are plain text
    assert await found("contoso") == ["Contoso North"]
    domain = domains["Contoso North"]
    assert await found(domain[:-3].upper()) == ["Contoso North"]
    assert len(await found("")) == len(names)
