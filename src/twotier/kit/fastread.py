"""Hot reads on the driver's own connection.

A hot read (the principal's lookup, a customer page) is a SQLAlchemy statement built once,
at import, with bound parameters. ``Read`` compiles it once per dialect and runs the SQL on
the driver (asyncpg, aiosqlite) of the request's connection, processing parameters and
results with the types' own processors — the rows are what ``session.execute`` returns
(a test compares them), at a fraction of its cost: no ORM execution context, no greenlet
switch, no per-call statement cache lookup.

The engine's ``before_cursor_execute`` listeners still hear every statement (the test
suite counts statements that way). A ``ReadSession`` (a GET's) lends a pooled driver
connection of its own; any other session's reads run on its connection, inside its
transaction if it has one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Row, bindparam, tuple_
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.result import SimpleResultMetaData
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Select

from twotier.kit import pagination
from twotier.kit.db import ReadSession
from twotier.kit.pagination import PageParams

Processor = Callable[[Any], Any] | None


@dataclass
class _Compiled:
    sql: str
    binds: tuple[tuple[str, Processor], ...]  # in the order the SQL's placeholders take them
    defaults: Mapping[str, Any]  # values the statement binds itself (enum members, literals)
    types: list[Any]  # the result columns' SQLAlchemy types
    metadata: SimpleResultMetaData
    # The result processors, made once the driver has said what types it returns (some
    # types' processors depend on it: PostgreSQL's numeric).
    results: list[Processor] | None = None


class Read:
    """A statement run as a hot read: ``await read.all(session, name=value, ...)``."""

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled: Any = self.statement.compile(dialect=dialect)
        names: Sequence[str] = compiled.positiontup or []
        processors = compiled._bind_processors
        columns = compiled._result_columns
        done = _Compiled(
            sql=compiled.string,
            binds=tuple((name, processors.get(name)) for name in names),
            defaults=compiled.construct_params(_check=False),
            types=[column.type for column in columns],
            metadata=SimpleResultMetaData([column.keyname for column in columns]),
        )
        self._compiled[dialect.name] = done
        return done

    async def all(self, session: AsyncSession, **params: Any) -> list[Row[Any]]:
        conn: AsyncConnection | None = None
        if isinstance(session, ReadSession):
            engine: Any = session.bind
            pooled = await session.pooled()
            dialect, dispatch, sync = engine.dialect, engine.sync_engine.dispatch, None
            raw: Any = pooled.driver_connection
        else:
            conn = await session.connection()
            sync = conn.sync_connection
            assert sync is not None  # noqa: S101 — an open AsyncConnection has one
            dialect, dispatch = sync.dialect, sync.dispatch
            raw = (await conn.get_raw_connection()).driver_connection
        compiled = self._compiled.get(dialect.name) or self._compile(dialect)
        values = []
        for name, process in compiled.binds:
            value = params[name] if name in params else compiled.defaults[name]
            values.append(process(value) if process is not None else value)
        listeners = dispatch.before_cursor_execute
        if listeners:
            listeners(sync, None, compiled.sql, tuple(values), None, False)
        try:
            if compiled.results is None:
                compiled.results = await _result_processors(raw, dialect, compiled)
            if dialect.name == "sqlite":
                cursor = await raw.execute(compiled.sql, values)
                fetched = await cursor.fetchall()
                await cursor.close()
            else:
                fetched = await raw.fetch(compiled.sql, *values)
        except Exception as exc:
            # As SQLAlchemy would tell it: a DBAPIError, and a connection the server closed
            # invalidated (the pool replaces it; the request may be tried once more).
            closed = dialect.name != "sqlite" and raw.is_closed()
            if closed and conn is not None:
                await conn.invalidate(exc)
            elif closed and isinstance(session, ReadSession):
                await session.invalidate_pooled(exc)
            raise DBAPIError(
                compiled.sql, values, exc, hide_parameters=True, connection_invalidated=closed
            ) from exc
        meta, processors = compiled.metadata, compiled.results
        keys = meta._key_to_index
        return [Row(meta, processors, keys, record) for record in fetched]  # type: ignore[arg-type]


async def _result_processors(raw: Any, dialect: Dialect, compiled: _Compiled) -> list[Processor]:
    """What SQLAlchemy's cursor result would apply to each column, given the driver's type
    of it (asyncpg's type OIDs; SQLite's results carry no type)."""
    if dialect.name == "sqlite":
        codes: list[Any] = [None] * len(compiled.types)
    else:
        statement = await raw.prepare(compiled.sql)
        codes = [attribute.type.oid for attribute in statement.get_attributes()]
    return [
        type_._cached_result_processor(dialect, code)
        for type_, code in zip(compiled.types, codes, strict=True)
    ]


class PagedRead:
    """A keyset-paged hot read (as ``kit.pagination.paginate`` pages, and with its cursors),
    built once: the first page's statement and the next pages' one, the cursor's values and
    the page size bound as parameters. ``build`` returns the statement without order or
    limit; its own parameters are bound by name at each call."""

    def __init__(self, build: Callable[[], Select[*tuple[Any, ...]]], keys: Sequence[Any]) -> None:
        self.keys = list(keys)
        limit = bindparam("page_limit", type_=Integer())
        after = tuple_(
            *(bindparam(f"after_{n}", type_=key.type) for n, key in enumerate(self.keys))
        )
        self._first = Read(build().order_by(*self.keys).limit(limit))
        self._next = Read(
            build().where(tuple_(*self.keys) > after).order_by(*self.keys).limit(limit)
        )

    async def page(
        self, session: AsyncSession, params: PageParams, **binds: Any
    ) -> tuple[list[Row[Any]], str | None]:
        tag = pagination.binding(params.list_name, self.keys, descending=False)
        if params.cursor:
            values = pagination.decode(params.cursor, self.keys, tag)
            binds |= {f"after_{n}": value for n, value in enumerate(values)}
            rows = await self._next.all(session, page_limit=params.limit + 1, **binds)
        else:
            rows = await self._first.all(session, page_limit=params.limit + 1, **binds)
        cursor = None
        if len(rows) > params.limit:
            rows = rows[: params.limit]
            last = rows[-1]._mapping
            cursor = pagination.encode([last[key.key] for key in self.keys], tag)
        return rows, cursor
