"""Database: declarative base, types, engines and the per-request session."""

from __future__ import annotations

import json
import uuid
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import DateTime, Enum, MetaData, Numeric, String, event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, ORMExecuteState, Session, mapped_column
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import greenlet_spawn

from twotier.kit.clock import utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        # asyncpg already answers timestamptz as aware UTC datetimes: nothing to do per
        # value (a Python call for every datetime of every row otherwise).
        if dialect.name == "postgresql" and dialect.driver == "asyncpg":
            return None
        return super().result_processor(dialect, coltype)


CENT = Decimal("0.01")


def canonical_money(value: Decimal) -> Decimal:
    """One spelling per amount whatever the backend: at least two decimals, no trailing
    zeros beyond them ("12.5000" → "12.50", "0.1235" stays)."""
    value = value.normalize()
    return value.quantize(CENT) if value.as_tuple().exponent > -2 else value  # type: ignore[operator]


class Money(TypeDecorator[Decimal]):
    """Exact decimal amounts: NUMERIC(18, 4) where the database has it, text on SQLite
    (whose numbers are floats). Never a float on the way in or out."""

    impl = Numeric(18, 4)
    cache_ok = True

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(18, 4, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError("money must be a Decimal")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else canonical_money(Decimal(str(value)))


def str_enum(cls: type[StrEnum], length: int) -> Enum:
    """A ``StrEnum`` column stored as its value's text (VARCHAR, no database enum type), so
    the schema is the same on every backend; reads come back as the enum's members."""
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012 — SQLAlchemy's API


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, nullable=False)


def _sqlite_setup(engine: AsyncEngine) -> None:
    """WAL, a busy timeout, foreign keys, and transactions SQLAlchemy controls.

    pysqlite's own transaction handling breaks SAVEPOINT and lets a read transaction
    upgrade to a write one late (SQLITE_BUSY without waiting); we emit BEGIN ourselves,
    IMMEDIATE for sessions that will write (see ``sqlite_begin`` below).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        if mode is not None:  # None: a reader's, each statement its own transaction
            conn.exec_driver_sql(f"BEGIN {mode}".strip())


def _check_alive(engine: AsyncEngine) -> None:
    """Hand out no connection the server has closed (a restart, ``pg_terminate_backend``),
    without a round trip: asyncpg learns of the closed socket from the event loop, so asking
    it costs nothing (``pool_pre_ping`` would cost a query per checkout)."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        raw = getattr(dbapi_connection, "driver_connection", None)
        if raw is not None and raw.is_closed():
            raise DisconnectionError("the server closed this connection")


def json_loads(text: str | bytes) -> Any:
    """JSON columns read with orjson (a fifth of json's time); anything orjson refuses that
    json accepts (NaN, integers past 64 bits) read by json as before."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def make_engine(
    url: str, *, pool: bool = True, pool_size: int = 20, max_overflow: int = 10
) -> AsyncEngine:
    # Bound parameters (password hashes, tokens, personal data) never reach logs or errors.
    kwargs: dict[str, Any] = {"hide_parameters": True, "json_deserializer": json_loads}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    elif not pool:
        kwargs["poolclass"] = NullPool
    if pool and ":memory:" not in url:
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = max_overflow
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        _sqlite_setup(engine)
    else:
        _check_alive(engine)
    return engine


def writer(engine: AsyncEngine) -> AsyncEngine:
    """The engine to bind a session that will write: takes SQLite's write lock up front."""
    return engine.execution_options(sqlite_begin="IMMEDIATE")


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The engine to bind a session that only reads: no transaction to begin and end (two
    round trips fewer on PostgreSQL); each statement sees what is committed when it runs."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin=None)
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class Lender:
    """Driver connections for hot reads, kept between requests.

    Taking a connection from SQLAlchemy's pool and giving it back each costs a greenlet
    switch and the pool's bookkeeping (about a seventh of ``/me``). The lender keeps up to
    ``keep`` of them checked out and hands one to the next reading session directly; a
    connection the server closed is invalidated, not lent (as the pool's checkout check
    does). ``close`` gives them all back to the pool (``Database.dispose`` calls it)."""

    def __init__(self, engine: AsyncEngine, keep: int) -> None:
        self.engine = engine
        self.keep = keep
        self.idle: deque[Any] = deque()

    async def lend(self) -> Any:
        while self.idle:
            pooled = self.idle.pop()
            raw = pooled.driver_connection
            if raw is not None and not _closed(raw):
                return pooled
            await greenlet_spawn(pooled.invalidate, DisconnectionError("closed while kept"))
        return await self.engine.raw_connection()

    async def give_back(self, pooled: Any) -> None:
        if len(self.idle) < self.keep and pooled.is_valid:
            self.idle.append(pooled)
        else:
            await greenlet_spawn(pooled.close)

    async def close(self) -> None:
        while self.idle:
            await greenlet_spawn(self.idle.pop().close)


def _closed(raw: Any) -> bool:
    is_closed = getattr(raw, "is_closed", None)  # asyncpg's; aiosqlite's has none
    return bool(is_closed()) if is_closed is not None else False


class ReadSession(AsyncSession):
    """A reading session (a GET's) whose hot reads (``kit.fastread``) run on a pooled
    driver connection of its own, taken at the first and given back at ``close``, without
    the ORM's transaction machinery (a tenth of its cost). ORM reads through the session
    itself take a connection of their own, as in any session."""

    _pooled: Any = None

    def __init__(self, *args: Any, lender: Lender | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lender = lender

    async def pooled(self) -> Any:
        """The pooled connection (SQLAlchemy's ``PoolProxiedConnection``)."""
        if self._pooled is None:
            if self._lender is not None:
                self._pooled = await self._lender.lend()
            else:
                engine = self.bind
                assert isinstance(engine, AsyncEngine)  # noqa: S101 — made by Database
                self._pooled = await engine.raw_connection()
        return self._pooled

    async def invalidate_pooled(self, exc: BaseException) -> None:
        if self._pooled is not None:
            pooled, self._pooled = self._pooled, None
            await greenlet_spawn(pooled.invalidate, exc)

    async def close(self) -> None:
        try:
            if self.in_transaction() or self.sync_session.identity_map:
                await super().close()
        finally:
            if self._pooled is not None:
                pooled, self._pooled = self._pooled, None
                if self._lender is not None:
                    await self._lender.give_back(pooled)
                else:
                    await greenlet_spawn(pooled.close)


READ_ONLY = "read_only"


class WriteInReadOnlySession(RuntimeError):
    """A session opened for reading (a GET's) tried to write: it has no transaction."""


def read_only(session: AsyncSession) -> AsyncSession:
    """Mark a session as reading only: any write through it raises instead of committing
    statement by statement."""
    session.info[READ_ONLY] = True
    return session


@event.listens_for(Session, "before_flush")
def _no_flush_when_reading(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(READ_ONLY) and (session.new or session.dirty or session.deleted):
        raise WriteInReadOnlySession("a read-only session was asked to write")


@event.listens_for(Session, "do_orm_execute")
def _no_dml_when_reading(state: ORMExecuteState) -> None:
    if state.session.info.get(READ_ONLY) and (
        state.is_insert or state.is_update or state.is_delete
    ):
        raise WriteInReadOnlySession("a read-only session was asked to write")


def dialect_insert(name: str) -> Any:
    """The dialect's ``insert`` (with ``on_conflict_do_nothing`` / ``_do_update``)."""
    return sqlite_insert if name == "sqlite" else postgresql_insert


class Database:
    """Engine plus session factories for reads and writes; one per app/worker."""

    def __init__(self, url: str, *, pool_size: int = 20, max_overflow: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        # Half the pool at most stays with the hot reads between requests.
        self.lender = Lender(self.engine, keep=max(1, pool_size // 2))
        # Reads with no transaction (a GET, a worker's look for work); reads that must see
        # one state throughout (the audit verifier) take a transaction of their own.
        self.read_sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            reader(self.engine),
            class_=ReadSession,
            expire_on_commit=False,
            autoflush=False,
            lender=self.lender,
        )
        self.snapshot_sessions = make_sessionmaker(self.engine)
        self.write_sessions = make_sessionmaker(writer(self.engine))

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    async def dispose(self) -> None:
        await self.lender.close()
        await self.engine.dispose()
