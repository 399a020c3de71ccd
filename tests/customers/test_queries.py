"""The customer list and record read what they show in one query each, whatever the count."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.customers.helpers import customer_of, linked_pair
from tests.factories import Org, make_operator, unique
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


async def test_a_search_answers_in_the_order_of_what_matched_and_pages_through_it(
    client: httpx.AsyncClient, pair: tuple[Org, Org, str, str]
) -> None:
    _provider, reseller, provider_id, _ = pair
    u = unique("d")
    made = [
        ("Nimbus Labs", f"alpha-{u}.example"),  # the name matches
        ("Zed Systems", f"nimble-{u}.example"),  # the domain only: at its domain's place
        ("Nimble Works", f"nimble-works-{u}.example"),  # both: once, at its name's place
        ("Nim", f"nim-{u}.example"),
        ("Other Co", f"other-{u}.example"),  # neither
        ("Willow Nimbus", f"w-nim-{u}.example"),  # neither: a prefix, not a substring
    ]
    for name, domain in made:
        await customer_of(client, reseller, provider_id, name=name, domain=domain)
    expected = ["Nim", "Nimble Works", "Zed Systems", "Nimbus Labs"]

    async def pages(limit: int) -> list[list[str]]:
        out: list[list[str]] = []
        cursor = None
        while True:
            params = {"q": "NIM", "limit": str(limit)} | ({"cursor": cursor} if cursor else {})
            response = await client.get("/api/v1/customers", params=params, headers=reseller.auth)
            assert response.status_code == 200, response.text
            page = response.json()
            out.append([c["company_name"] for c in page["items"]])
            cursor = page["next_cursor"]
            if cursor is None:
                return out

    assert await pages(50) == [expected]
    assert await pages(1) == [[name] for name in expected]
    assert await pages(3) == [expected[:3], expected[3:]]
    # Without q= the list stays oldest first.
    listed = await client.get("/api/v1/customers", headers=reseller.auth)
    assert [c["company_name"] for c in listed.json()["items"]] == [n for n, _ in made]


async def test_a_search_reads_a_page_from_each_index_in_its_order(
    client: httpx.AsyncClient, engine: AsyncEngine, pair: tuple[Org, Org, str, str]
) -> None:
    """However many customers match, a search page reads at most a page from each search
    index: each branch's order is its index's (no sort below the merge's)."""
    _provider, reseller, provider_id, _ = pair
    await customer_of(client, reseller, provider_id, name="Northwind Traders")
    seen: list[tuple[str, Any]] = []

    def hear(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", hear)
    try:
        response = await client.get(
            "/api/v1/customers", params={"q": "north"}, headers=reseller.auth
        )
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", hear)
    assert [c["company_name"] for c in response.json()["items"]] == ["Northwind Traders"]
    [(sql, parameters)] = [(s, p) for s, p in seen if "customer_relationships" in s]
    async with engine.connect() as conn:
        driver: Any = (await conn.get_raw_connection()).driver_connection
        if engine.dialect.name == "sqlite":
            cursor = await driver.execute("EXPLAIN QUERY PLAN " + sql, parameters)
            plan = [str(row[-1]) for row in await cursor.fetchall()]
        else:
            await driver.execute("SET enable_sort = off; SET enable_seqscan = off")
            plan = [row[0] for row in await driver.fetch("EXPLAIN " + sql, *parameters)]
            await driver.execute("RESET enable_sort; RESET enable_seqscan")
    text = "\n".join(plan)
    assert "ix_relationships_search_name" in text, text
    assert "ix_relationships_search_domain" in text, text
    assert _branch_sorts(plan) == [], text


def _branch_sorts(plan: list[str]) -> list[str]:
    """The sorts of a search plan below the merge: inside a branch, before its limit."""
    sorts, inside, depth = [], False, 0
    for line in plan:
        text = line.strip(" ->")
        if line.startswith("CO-ROUTINE branch") or "CO-ROUTINE branch" in text:
            inside = True  # SQLite: a branch's lines, until the merge scans its rows
        elif text.startswith("SCAN branch"):
            inside = False
        elif "Append" in text.split("(")[0]:
            depth = len(line) - len(line.lstrip())  # PostgreSQL: the branches hang below
        if ("TEMP B-TREE" in text and inside) or (
            line.lstrip().startswith("->")  # a plan node, not a detail (its sort key)
            and "Sort" in text.split("(")[0]
            and depth
            and len(line) - len(line.lstrip()) > depth
        ):
            sorts.append(line)
    return sorts
