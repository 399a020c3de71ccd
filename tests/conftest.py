"""Test harness: a real database per run, built by Alembic; each test rolled back.

The same suite runs on SQLite (default) and PostgreSQL (``TWOTIER_TEST_DATABASE_URL``, a
server on which a fresh database is created for the run and dropped after it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from tests.factories import make_operator
from twotier.app import create_app
from twotier.config import Settings
from twotier.kit import clock, migrate
from twotier.kit.db import Database, make_engine
from twotier.models import Base

PG_ENV = "TWOTIER_TEST_DATABASE_URL"

# argon2id at its minimum cost for every hash the suite makes, in this process and in the
# servers and CLIs it starts (they inherit the environment). Production's defaults are
# asserted in tests/kit/test_security.py.
TEST_HASH_COST = {
    "TWOTIER_PASSWORD_HASH_TIME_COST": "1",
    "TWOTIER_PASSWORD_HASH_MEMORY_KIB": "8",
    "TWOTIER_PASSWORD_HASH_PARALLELISM": "1",
}
os.environ.update(TEST_HASH_COST)
Settings(_env_file=None).apply_password_hashing()


def _admin_pg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_execute(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_admin_pg_url(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_database(base_url: str | None, tmp_dir: Path) -> str:
    """A new, migrated database: a SQLite file, or a fresh PostgreSQL database."""
    if base_url is None:
        url = f"sqlite+aiosqlite:///{tmp_dir / f'twotier-{uuid.uuid4().hex[:8]}.db'}"
    else:
        name = f"twotier_test_{uuid.uuid4().hex[:12]}"
        await _pg_execute(base_url, f'CREATE DATABASE "{name}"')
        url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade_sync_from_async_context(url)
    return url


async def drop_database(url: str, base_url: str | None) -> None:
    if base_url is None:
        return
    name = make_url(url).database
    await _pg_execute(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture(scope="session")
async def database_url(
    pg_base_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    url = await create_database(pg_base_url, tmp_path_factory.mktemp("db"))
    yield url
    await drop_database(url, pg_base_url)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(database_url)
    yield eng
    await eng.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        base_url="http://testserver",
        outbox_in_process=False,
        _env_file=None,
    )


class RolledBackDatabase(Database):
    """Every session joins one outer transaction that the test rolls back."""

    session_class: type[AsyncSession] = AsyncSession

    def __init__(self, url: str, engine: AsyncEngine, connection: AsyncConnection) -> None:
        self.url = url
        self.engine = engine
        factory = async_sessionmaker(
            bind=connection,
            class_=self.session_class,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="create_savepoint",
        )
        self.read_sessions = factory
        self.write_sessions = factory
        self.snapshot_sessions = factory

    async def dispose(self) -> None:
        return None


@pytest.fixture
async def db(database_url: str, engine: AsyncEngine) -> AsyncIterator[Database]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield RolledBackDatabase(database_url, engine, connection)
        finally:
            await transaction.rollback()


@pytest.fixture
async def session(db: Database) -> AsyncIterator[AsyncSession]:
    async with db.write_sessions() as s, s.begin():
        yield s


@pytest.fixture
def app(settings: Settings, db: Database) -> Any:
    return create_app(settings, db=db)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def committed_db(database_url: str) -> AsyncIterator[Database]:
    """A real database whose commits stick (for concurrency); emptied after the test."""
    database = Database(database_url)
    try:
        yield database
    finally:
        async with database.write_sessions() as s, s.begin():
            for table in reversed(Base.metadata.sorted_tables):
                await s.execute(delete(table))
        await database.dispose()


@pytest.fixture
async def committed_client(
    settings: Settings, committed_db: Database
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, db=committed_db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def operator(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    """Bearer headers of an operator user (created as ``twotier operator create`` does)."""
    return await make_operator(client, session)


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()
