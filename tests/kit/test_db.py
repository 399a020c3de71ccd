"""The database connections requests use: reads without a transaction that cannot write, and
a connection the server dropped replaced without a ping per request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select, text, update

from tests.factories import OPERATOR_PASSWORD, sign_in, unique
from tests.statements import statements
from twotier.app import create_app
from twotier.config import Settings
from twotier.directory.models import AccessToken, Tenant
from twotier.kit.db import Database, WriteInReadOnlySession, read_only
from twotier.operator.service import create_operator


def _in_transaction(driver_connection: Any) -> bool:
    if isinstance(driver_connection, asyncpg.Connection):
        return bool(driver_connection.is_in_transaction())
    return bool(driver_connection.in_transaction)  # sqlite3 (behind aiosqlite's thread)


async def test_a_read_session_reads_outside_a_transaction_and_a_write_session_inside(
    committed_db: Database,
) -> None:
    async with read_only(committed_db.read_sessions()) as reader, reader.begin():
        assert await reader.scalar(text("SELECT 1")) == 1
        raw = (await reader.connection()).sync_connection
        assert raw is not None
        driver = raw.connection.driver_connection
        inner = getattr(driver, "_conn", driver)  # aiosqlite wraps sqlite3
        assert not _in_transaction(inner)
    async with committed_db.write_sessions() as writer, writer.begin():
        await writer.scalar(text("SELECT 1"))
        raw = (await writer.connection()).sync_connection
        assert raw is not None
        driver = raw.connection.driver_connection
        assert _in_transaction(getattr(driver, "_conn", driver))


async def test_a_read_only_session_refuses_every_kind_of_write(committed_db: Database) -> None:
    async with read_only(committed_db.read_sessions()) as reader:
        reader.add(
            Tenant(
                kind="customer", display_name="Nobody Ltd", domain="nobody.example", country="TW"
            )
        )
        with pytest.raises(WriteInReadOnlySession):
            await reader.flush()
    async with read_only(committed_db.read_sessions()) as reader:
        with pytest.raises(WriteInReadOnlySession):
            await reader.execute(update(Tenant).values(display_name="Renamed"))
    # The same writes through a write session go through.
    async with committed_db.write_sessions() as writer, writer.begin():
        writer.add(
            Tenant(
                kind="customer",
                display_name="Somebody Ltd",
                domain="somebody.example",
                country="TW",
            )
        )
        await writer.flush()
        await writer.execute(update(Tenant).values(display_name="Renamed"))


@pytest.fixture
async def served(
    committed_db: Database, settings: Settings
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client of an app on a real pool, and an operator's email (its password:
    ``OPERATOR_PASSWORD``)."""
    if committed_db.is_sqlite:
        pytest.skip("a PostgreSQL server's backends are what gets terminated")
    app = create_app(settings, db=committed_db)
    email = f"{unique('ops')}@vendor.example"
    async with committed_db.write_sessions() as session, session.begin():
        await create_operator(session, email=email, password=OPERATOR_PASSWORD, name="Ops")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield client, email


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


async def _drop_connections(db: Database) -> None:
    """Terminate every other backend of the database, as a server restart would, and wait
    until they are gone (a terminated backend exits a moment after the call returns)."""
    url = db.engine.url.set(drivername="postgresql")
    other = await asyncpg.connect(url.render_as_string(hide_password=False))
    others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    try:
        assert await other.fetchval("SELECT count(pg_terminate_backend(pid)) " + others)
        while await other.fetchval("SELECT count(*) " + others):
            await other.execute("SELECT pg_stat_clear_snapshot()")
    finally:
        await other.close()
    # A backend leaves pg_stat_activity a moment before its socket closes: wait until the
    # connections the lender keeps have heard of it (the event loop reads their end).
    for _ in range(5000):
        if all(c.driver_connection.is_closed() for c in db.lender.idle):
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the kept connections never heard the server close them")


async def test_the_request_after_the_server_drops_the_connections_succeeds(
    served: tuple[httpx.AsyncClient, str], committed_db: Database
) -> None:
    client, email = served
    token = await sign_in(client, email, OPERATOR_PASSWORD)
    with statements(committed_db.engine) as usual:
        assert (await _me(client, token)).status_code == 200
    await _drop_connections(committed_db)
    with statements(committed_db.engine) as seen:
        response = await _me(client, token)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == email
    # Told by the pool at checkout, not by a failed statement and a second attempt.
    assert len(seen) == len(usual)


def _open_when_first_asked() -> Any:
    """``is_closed`` as if the socket's end arrived only after the pool handed the
    connection out: "open" at the first question, the truth after."""
    real = asyncpg.Connection.is_closed
    asked: set[int] = set()

    def is_closed(connection: asyncpg.Connection) -> bool:
        if id(connection) not in asked:
            asked.add(id(connection))
            return False
        return bool(real(connection))

    return is_closed


async def test_a_dropped_connection_not_yet_noticed_costs_the_request_one_retry(
    served: tuple[httpx.AsyncClient, str],
    committed_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The socket's end may not have reached the pool when the next request takes the
    connection: its first statement fails, and the request runs again on a new one."""
    client, email = served
    token = await sign_in(client, email, OPERATOR_PASSWORD)
    await _drop_connections(committed_db)
    monkeypatch.setattr(asyncpg.Connection, "is_closed", _open_when_first_asked())
    response = await _me(client, token)
    assert response.status_code == 200, response.text
    # A write (a sign-in makes a token) goes through too, and its token works.
    await _drop_connections(committed_db)
    second = await sign_in(client, email, OPERATOR_PASSWORD)
    monkeypatch.undo()
    assert (await _me(client, second)).status_code == 200
    async with committed_db.read_sessions() as session:
        tokens = await session.scalar(select(func.count()).select_from(AccessToken))
    assert tokens == 2  # one per sign-in: the failed attempt left none behind
