"""A hot read on the driver's connection returns exactly what ``session.execute`` returns
for the same statement: the same rows, the same Python types (UUIDs, enum members, aware
datetimes, exact money, JSON lists), on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

import aiosqlite
import httpx
import pytest
from sqlalchemy import Insert, bindparam, event, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.commerce.helpers import World, subscribe, two_tier_world
from tests.statements import statements
from twotier.commerce import queries as commerce_queries
from twotier.config import Settings
from twotier.customers import queries as customer_queries
from twotier.directory import auth
from twotier.directory import queries as directory_queries
from twotier.directory.models import Tenant, TenantKind, TokenKind
from twotier.kit.clock import utcnow
from twotier.kit.db import Database, ReadSession, WriteInReadOnlySession
from twotier.kit.fastread import Read, insert_row
from twotier.kit.security import token_hash


@pytest.fixture
async def world(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> World:
    world = await two_tier_world(client, db, settings, operator)
    await subscribe(client, world, quantity=3)
    await subscribe(client, world, quantity=4)
    return world


def _types(rows: list[Any]) -> list[list[type]]:
    return [[type(value) for value in row] for row in rows]


async def _same(session: AsyncSession, read: Read, params: dict[str, Any]) -> list[Any]:
    expected = (await session.execute(read.statement, params)).all()
    got = await read.all(session, **params)
    assert got == expected
    assert _types(got) == _types(expected)
    assert [list(r._mapping) for r in got] == [list(r._mapping) for r in expected]
    return got


async def test_every_hot_read_answers_as_sqlalchemy_does(
    session: AsyncSession, world: World
) -> None:
    reseller, customer = uuid.UUID(world.reseller_account_id), uuid.UUID(world.customer.id)
    [principal] = await _same(
        session,
        auth._BY_TOKEN,
        {"digest": token_hash(world.reseller.token), "kind": TokenKind.api, "now": utcnow()},
    )
    assert principal.partner_account_id == reseller
    [me] = await _same(session, directory_queries._ME, {"tenant_id": principal.tenant_id})
    assert me.partner_account_id == reseller
    record = await _same(
        session, customer_queries._RECORD, {"mine": reseller, "customer": customer}
    )
    assert record[0].tenant_id == customer
    assert record[0].grant_id is not None
    # Aware UTC datetimes on both databases (on PostgreSQL as asyncpg gives them, untouched).
    assert record[0].expires_at.tzinfo is UTC
    assert record[0].expires_at > utcnow()
    page = customer_queries._page_read(None, None)._first
    [row] = await _same(session, page, {"mine": reseller, "page_limit": 51})
    assert row.tenant_id == customer
    subscriptions = commerce_queries._subscription_page(True, False)._first
    rows = await _same(
        session, subscriptions, {"mine": reseller, "customer": customer, "page_limit": 51}
    )
    assert sorted(r.quantity for r in rows) == [3, 4]
    assert {str(r.unit_price) for r in rows} == {"375.50"}


async def test_a_hot_read_is_heard_by_the_engines_listeners(
    session: AsyncSession, world: World, db: Database
) -> None:
    with statements(db.engine) as seen:
        await directory_queries._ME.all(session, tenant_id=uuid.UUID(world.customer.id))
    assert len(seen) == 1
    assert "FROM tenants" in seen[0]


async def test_on_sqlite_a_point_read_skips_the_trip_to_aiosqlites_thread_a_page_takes_it(
    client: httpx.AsyncClient, world: World, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not db.is_sqlite:
        pytest.skip("aiosqlite's thread is SQLite's")
    trips: list[str] = []  # the statements sent to aiosqlite's thread to run
    queue: Any = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(fn, "__name__", "") == "_execute_fetchall":
            trips.append(args[0])
        return await queue(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)

    async def trips_of(path: str) -> int:
        await client.get(path, headers=world.reseller.auth)  # a kept connection lent
        trips.clear()
        with statements(db.engine) as seen:
            response = await client.get(path, headers=world.reseller.auth)
        assert response.status_code == 200, response.text
        assert len(seen) == 2  # the principal, then the read: both heard
        return len(trips)

    # The principal's lookup and the point reads run in the request's thread ...
    assert await trips_of("/api/v1/me") == 0
    assert await trips_of(world.path()) == 0
    # ... a page goes to aiosqlite's thread, once.
    assert await trips_of("/api/v1/customers") == 1
    assert await trips_of(world.path("/subscriptions")) == 1


async def test_a_read_session_lends_one_pooled_connection_and_gives_it_back(
    committed_db: Database,
) -> None:
    """A GET's session (ReadSession) reads on a pooled driver connection of its own, the
    same rows as SQLAlchemy reads; when closed, the lender keeps the connection for the next
    reading session, and gives it back to the pool when the database is disposed."""
    async with committed_db.write_sessions() as writer, writer.begin():
        writer.add(Tenant(kind="organization", display_name="Pooled Ltd", domain="pooled.example",
                          country="TW"))  # fmt: skip
    pool: Any = committed_db.engine.sync_engine.pool
    before = pool.checkedout()
    session = committed_db.read_sessions()
    assert isinstance(session, ReadSession)
    tenant_id = await session.scalar(select(Tenant.id).where(Tenant.domain == "pooled.example"))
    with statements(committed_db.engine) as seen:
        first = await directory_queries._ME.all(session, tenant_id=tenant_id)
        again = await directory_queries._ME.all(session, tenant_id=tenant_id)
    assert len(seen) == 2  # heard by the engine's listeners, without a Connection
    assert first == again == (await session.execute(directory_queries._ME.statement,
                                                    {"tenant_id": tenant_id})).all()  # fmt: skip
    assert first[0].display_name == "Pooled Ltd"
    assert pool.checkedout() == before + 2  # the ORM's connection and the lent one
    lent = (await session.pooled()).driver_connection
    await session.close()
    assert pool.checkedout() == before + 1  # the lent one, kept by the lender
    assert len(committed_db.lender.idle) == 1
    # The next reading session gets the same connection without asking the pool.
    second = committed_db.read_sessions()
    assert isinstance(second, ReadSession)
    assert await directory_queries._ME.all(second, tenant_id=tenant_id) == first
    assert (await second.pooled()).driver_connection is lent
    assert pool.checkedout() == before + 1
    await second.close()
    await committed_db.lender.close()
    assert pool.checkedout() == before


async def test_the_lender_keeps_no_connection_the_server_closed(committed_db: Database) -> None:
    if committed_db.is_sqlite:
        pytest.skip("a PostgreSQL server's connections are what gets closed")
    session = committed_db.read_sessions()
    assert isinstance(session, ReadSession)
    await directory_queries._ME.all(session, tenant_id=uuid.uuid4())
    closed = (await session.pooled()).driver_connection
    await session.close()
    assert len(committed_db.lender.idle) == 1
    await closed.close()  # as the server's end of it would be
    other = committed_db.read_sessions()
    assert isinstance(other, ReadSession)
    assert await directory_queries._ME.all(other, tenant_id=uuid.uuid4()) == []
    assert (await other.pooled()).driver_connection is not closed
    await other.close()


_ADD_TENANT = Read(insert_row(Tenant.__table__))


def _tenant(domain: str) -> dict[str, Any]:
    now = utcnow()
    return {"id": uuid.uuid4(), "kind": "organization", "display_name": "Fast Write Ltd",
            "domain": domain, "country": "TW", "created_at": now, "updated_at": now}  # fmt: skip


async def test_a_write_is_part_of_the_sessions_transaction_even_when_it_runs_first(
    committed_db: Database,
) -> None:
    """The driver's transaction is begun before a write runs on it, so a rollback undoes
    it and a commit keeps it — also when no SQLAlchemy statement ran before."""
    async with committed_db.write_sessions() as session, session.begin():
        await _ADD_TENANT.all(session, **_tenant("undone.example"))
        await session.rollback()
    async with committed_db.write_sessions() as session, session.begin():
        with statements(committed_db.engine) as seen:
            await _ADD_TENANT.many(session, [_tenant("kept.example"), _tenant("also.example")])
        # Both rows in one round trip, heard by the listeners (after SQLite's BEGIN).
        assert [s.split()[0] for s in seen if not s.startswith("BEGIN")] == ["INSERT"]
    async with committed_db.read_sessions() as session:
        found = await session.scalars(
            select(Tenant.domain).where(Tenant.domain.like("%.example")).order_by(Tenant.domain)
        )
        assert list(found) == ["also.example", "kept.example"]


async def test_a_write_through_a_reading_session_is_refused_and_nothing_is_written(
    committed_db: Database,
) -> None:
    session = committed_db.read_sessions()
    assert isinstance(session, ReadSession)
    try:
        with pytest.raises(WriteInReadOnlySession):
            await _ADD_TENANT.all(session, **_tenant("read-only.example"))
        # The same session still reads.
        found = await _DOMAINS.all(session, domain="read-only.example")
        assert found == []
    finally:
        await session.close()
    async with committed_db.write_sessions() as writer, writer.begin():
        await _ADD_TENANT.all(writer, **_tenant("read-only.example"))
    async with committed_db.read_sessions() as session:
        assert len(await _DOMAINS.all(session, domain="read-only.example")) == 1


async def test_the_engines_after_execute_listeners_hear_a_write_with_its_rows(
    session: AsyncSession, db: Database
) -> None:
    """As for a Core statement: the statement, then each row's parameters by name (the
    suite's audit capture, ``tests/announcements.py``, reads them so)."""
    heard: list[tuple[Any, list[dict[str, Any]]]] = []

    def hear(_conn: Any, clause: Any, multiparams: Any, *_args: Any) -> None:
        if isinstance(clause, Insert):  # not the test session's own SAVEPOINTs
            heard.append((clause, multiparams))

    event.listen(db.engine.sync_engine, "after_execute", hear)
    try:
        rows = [_tenant("heard-1.example"), _tenant("heard-2.example")]
        await _ADD_TENANT.many(session, rows)
    finally:
        event.remove(db.engine.sync_engine, "after_execute", hear)
    [(clause, multiparams)] = heard
    assert clause is _ADD_TENANT.statement
    assert [row["domain"] for row in multiparams] == ["heard-1.example", "heard-2.example"]


_DOMAINS = Read(select(Tenant.id).where(Tenant.domain == bindparam("domain")))


async def test_a_write_missing_a_value_is_refused_not_written_as_null(
    session: AsyncSession,
) -> None:
    row = _tenant("missing.example")
    del row["country"]
    with pytest.raises(KeyError, match="country"):
        await _ADD_TENANT.all(session, **row)
    assert await session.scalar(select(Tenant.id).where(Tenant.domain == "missing.example")) is None


_TENANTS_IN = Read(
    select(Tenant.id, Tenant.domain)
    .where(
        Tenant.id.in_(bindparam("ids", expanding=True)),
        Tenant.kind == TenantKind.organization,
        Tenant.country == bindparam("country"),
    )
    .order_by(Tenant.domain)
)


async def test_an_in_list_is_read_for_each_of_its_lengths_as_sqlalchemy_reads_it(
    session: AsyncSession,
) -> None:
    rows = [_tenant(f"in-{n}.example") for n in range(3)]
    await _ADD_TENANT.many(session, rows)
    ids = [row["id"] for row in rows]
    for wanted in ([], ids[:1], ids, ids[1:], [ids[2], uuid.uuid4()]):
        got = await _same(session, _TENANTS_IN, {"ids": wanted, "country": "TW"})
        assert {r.id for r in got} == set(wanted) & set(ids)
    assert await _TENANTS_IN.all(session, ids=ids, country="JP") == []
