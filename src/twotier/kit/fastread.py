"""Hot reads (and writes) on the driver's own connection.

A hot read (the principal's lookup, a customer page) is a SQLAlchemy statement built once,
at import, with bound parameters. ``Read`` compiles it once per dialect (and, for an IN
list, once per list length) and runs the SQL on the driver (asyncpg, aiosqlite) of the
request's connection, processing parameters and results with the types' own processors —
the rows are what ``session.execute`` returns (a test compares them), at a fraction of its
cost: no ORM execution context, no greenlet switch, no per-call statement cache lookup.

A hot write (an order's rows) is a ``Read`` of an INSERT, UPDATE or upsert, run inside the
session's transaction, which is begun on the driver first; ``many`` writes many rows in one
round trip.

The engine's ``before_cursor_execute`` listeners still hear every statement (the test
suite counts statements that way), and its ``after_execute`` listeners each statement with
its parameters by name, as for a Core statement (the test suite's audit capture). A
``ReadSession`` (a GET's) reads on a driver connection the database's lender keeps, and
refuses writes; any other session's statements run on its connection, inside its
transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    Integer,
    Row,
    bindparam,
    insert,
    not_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.result import SimpleResultMetaData
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Executable, Select
from sqlalchemy.sql.dml import UpdateBase

from twotier.kit import pagination
from twotier.kit.db import ReadSession, WriteInReadOnlySession
from twotier.kit.pagination import PageParams

Processor = Callable[[Any], Any] | None


@dataclass
class _Compiled:
    sql: str
    binds: tuple[tuple[str, Processor], ...]  # in the order the SQL's placeholders take them
    defaults: Mapping[str, Any]  # values the statement binds itself (enum members, literals)
    required: frozenset[str]  # the parameters each call must give
    types: list[Any]  # the result columns' SQLAlchemy types
    metadata: SimpleResultMetaData
    # The result processors, made once the driver has said what types it returns (some
    # types' processors depend on it: PostgreSQL's numeric).
    results: list[Processor] | None = None
    # An IN list's parameter (``bindparam(..., expanding=True)``): the SQL is made per
    # length of its lists (``expanded``), from SQLAlchemy's compiled statement (``source``).
    expanding: tuple[str, ...] = ()
    source: Any = None
    expanded: dict[tuple[int, ...], _Expanded] = field(default_factory=dict)


@dataclass
class _Expanded:
    compiled: _Compiled
    names: dict[str, list[str]]  # a list parameter → the names of its elements


class Read:
    """A statement run as a hot read (or write): ``await read.all(session, name=value, ...)``.

    Any statement with bound parameters will do: a SELECT, or an INSERT, UPDATE or DELETE
    (with RETURNING for what it wrote) run in the session's transaction. ``sqlite`` is the
    statement to run on SQLite where the dialects need different constructs (an upsert).

    ``inline`` marks a point read (a row or a few, by key): on SQLite it runs in the calling
    thread, on the sqlite3 connection under aiosqlite's, instead of a trip to aiosqlite's
    thread — the trip (a queue, a wake-up, a future set across threads) costs more than
    such a read; a page, whose SQLite work can overlap the event loop's, keeps the trip.
    The request holds its connection alone, so nothing else uses it meanwhile."""

    def __init__(
        self, statement: Executable, *, sqlite: Executable | None = None, inline: bool = False
    ) -> None:
        self.statement = statement
        self.inline = inline
        self._writes = isinstance(statement, UpdateBase)  # INSERT, UPDATE, DELETE
        self._variants = {"sqlite": sqlite} if sqlite is not None else {}
        self._compiled: dict[str, _Compiled] = {}

    def statement_for(self, dialect_name: str) -> Executable:
        return self._variants.get(dialect_name, self.statement)

    def _compile(self, dialect: Dialect) -> _Compiled:
        statement: Any = self.statement_for(dialect.name)
        compiled: Any = statement.compile(dialect=dialect)
        names: Sequence[str] = compiled.positiontup or []
        processors = compiled._bind_processors
        columns = compiled._result_columns
        expanding = tuple(bind.key for bind in compiled.post_compile_params if bind.expanding)
        if len(expanding) != len(compiled.post_compile_params):  # pragma: no cover
            raise TypeError("a hot read's late-rendered parameters must be expanding IN lists")
        done = _Compiled(
            sql=compiled.string,
            binds=tuple((name, processors.get(name)) for name in names),
            defaults={} if expanding else compiled.construct_params(_check=False),
            required=frozenset(name for name in names if compiled.binds[name].required),
            types=[column.type for column in columns],
            metadata=SimpleResultMetaData([column.keyname for column in columns]),
            expanding=expanding,
            source=compiled if expanding else None,
        )
        self._compiled[dialect.name] = done
        return done

    @staticmethod
    def _expand(done: _Compiled, params: Mapping[str, Any]) -> tuple[_Compiled, dict[str, Any]]:
        """The statement for these lengths of its IN lists (made once per lengths), and the
        parameters with each list's elements named as its SQL names them."""
        lengths = tuple(len(params[name]) for name in done.expanding)
        known = done.expanded.get(lengths)
        if known is None:
            state = done.source.construct_expanded_state(dict(params))
            names = state.positiontup or []
            processors = {**done.source._bind_processors, **state.processors}
            expansion = {name: list(state.parameter_expansion.get(name, ())) for name in
                         done.expanding}  # fmt: skip
            elements = {element for names_ in expansion.values() for element in names_}
            known = _Expanded(
                _Compiled(
                    sql=state.statement,
                    binds=tuple((name, processors.get(name)) for name in names),
                    defaults={
                        name: value
                        for name, value in state.parameters.items()
                        if name not in params and name not in elements
                    },
                    required=frozenset(done.required | elements),
                    types=done.types,
                    metadata=done.metadata,
                    results=done.results,
                ),
                expansion,
            )
            done.expanded[lengths] = known
        given = dict(params)
        for name, element_names in known.names.items():
            given.update(zip(element_names, params[name], strict=True))
        return known.compiled, given

    async def all(self, session: AsyncSession, **params: Any) -> list[Row[Any]]:
        """The statement's rows (a SELECT's, or what a write RETURNs; none otherwise)."""
        return await self._run(session, [params], many=False)

    async def many(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
        """The write once per row of parameters, in one round trip (executemany)."""
        if rows:
            await self._run(session, rows, many=True)

    async def _run(
        self, session: AsyncSession, rows: Sequence[Mapping[str, Any]], *, many: bool
    ) -> list[Row[Any]]:
        conn: AsyncConnection | None = None
        if isinstance(session, ReadSession):
            if self._writes:  # a reading session has no transaction to write in
                raise WriteInReadOnlySession("a read-only session was asked to write")
            engine: Any = session.bind
            pooled = await session.pooled()
            dialect, dispatch, sync = engine.dialect, engine.sync_engine.dispatch, None
            raw: Any = pooled.driver_connection
        else:
            conn, sync, raw = await _connection_of(session)
            dialect, dispatch = sync.dialect, sync.dispatch
        compiled = self._compiled.get(dialect.name) or self._compile(dialect)
        if compiled.expanding:
            if many:  # pragma: no cover — a write of many rows has no IN list
                raise TypeError("executemany with an IN list")
            compiled, expanded = self._expand(compiled, rows[0])
            rows = [expanded]
        batch = [_values(compiled, params) for params in rows]
        listeners = dispatch.before_cursor_execute
        if listeners:
            shown = batch if many else tuple(batch[0])
            listeners(sync, None, compiled.sql, shown, None, many)
        try:
            if compiled.results is None:
                compiled.results = await _result_processors(raw, dialect, compiled)
            if many:
                await raw.executemany(compiled.sql, batch)
                fetched: Any = []
            elif dialect.name == "sqlite" and self.inline:
                fetched = raw._conn.execute(compiled.sql, batch[0]).fetchall()
            elif dialect.name == "sqlite":
                # One trip to aiosqlite's thread (execute, fetch and close are three).
                fetched = await raw.execute_fetchall(compiled.sql, batch[0])
            else:
                fetched = await raw.fetch(compiled.sql, *batch[0])
        except Exception as exc:
            # As SQLAlchemy would tell it: a DBAPIError, and a connection the server closed
            # invalidated (the pool replaces it; the request may be tried once more).
            closed = dialect.name != "sqlite" and raw.is_closed()
            if closed and conn is not None:
                await conn.invalidate(exc)
            elif closed and isinstance(session, ReadSession):
                await session.invalidate_pooled(exc)
            raise DBAPIError(
                compiled.sql, batch, exc, hide_parameters=True, connection_invalidated=closed
            ) from exc
        if dispatch.after_execute:  # as SQLAlchemy tells a Core statement it has run
            statement = self.statement_for(dialect.name)
            dispatch.after_execute(sync, statement, list(rows), {}, {}, None)
        meta, processors = compiled.metadata, compiled.results
        keys = meta._key_to_index
        return [Row(meta, processors, keys, record) for record in fetched]  # type: ignore[arg-type]


def _values(compiled: _Compiled, params: Mapping[str, Any]) -> list[Any]:
    values = []
    for name, process in compiled.binds:
        if name in params:
            value = params[name]
        elif name in compiled.required:
            raise KeyError(f"no value for the statement's parameter {name!r}")
        else:
            value = compiled.defaults[name]
        values.append(process(value) if process is not None else value)
    return values


def insert_row(table: Any) -> Insert:
    """``INSERT INTO table (every column) VALUES (:column, ...)``: each call gives every
    column's value (a missing one is an error, not a NULL)."""
    return insert(table).values(
        {column.key: bindparam(column.key, type_=column.type) for column in table.columns}
    )


_UNSET = object()
_LENT = "fastread_connection"


async def _connection_of(session: AsyncSession) -> tuple[AsyncConnection, Any, Any]:
    """The session's connection in its transaction, begun: (async connection, sync
    connection, driver connection), asked of the session once per transaction."""
    transaction = session.sync_session.get_transaction()
    lent = session.info.get(_LENT)
    if lent is not None and transaction is not None and lent[0] is transaction:
        known: tuple[AsyncConnection, Any, Any] = lent[1]
        return known
    conn = await session.connection()
    sync = conn.sync_connection
    assert sync is not None  # noqa: S101 — an open AsyncConnection has one
    proxied = await conn.get_raw_connection()
    if sync.dialect.name == "postgresql":
        await _begun(proxied.dbapi_connection, conn)
    found = (conn, sync, proxied.driver_connection)
    session.info[_LENT] = (session.sync_session.get_transaction(), found)
    return found


async def _begun(adapted: Any, conn: AsyncConnection) -> None:
    """The session's transaction begun on the driver before a statement runs there.
    SQLAlchemy's asyncpg adapter sends BEGIN lazily, at its own first statement; a write
    of ours may come first and must not run outside the transaction."""
    pending = getattr(adapted, "_transaction", _UNSET)
    if pending is None:
        if adapted.isolation_level != "autocommit":
            await adapted._start_transaction()
    elif pending is _UNSET:  # pragma: no cover — an adapter we do not know: let it begin
        await conn.exec_driver_sql("SELECT 1")


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
        self._names = [key.key for key in self.keys]
        self._first = Read(build().order_by(*self.keys).limit(_LIMIT))
        self._next = Read(
            build().where(tuple_(*self.keys) > _after(self.keys)).order_by(*self.keys).limit(_LIMIT)
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
            cursor = pagination.encode([last[name] for name in self._names], tag)
        return rows, cursor


_LIMIT = bindparam("page_limit", type_=Integer())


def _after(keys: Sequence[Any]) -> Any:
    """The cursor's position: the last row's keys, bound as ``after_0``, ``after_1``, ..."""
    return tuple_(*(bindparam(f"after_{n}", type_=key.type) for n, key in enumerate(keys)))


class MergedPagedRead(PagedRead):
    """A keyset-paged read of the rows that any of several conditions match, each condition
    a range of an index of its own (a customer search: a prefix of the name, or of the
    domain). A row's position is the value its first matching branch matched on, then
    ``tiebreak``; each branch reads at most a page from its index in that order, excluding
    the rows an earlier branch takes, and one outer sort merges those pages — so a page
    costs the same however many rows match, where one ``OR`` sorted by another key reads
    every match. ``build`` is as ``PagedRead``'s; the rows carry the matched value last,
    as ``match``."""

    def __init__(
        self,
        build: Callable[[], Select[*tuple[Any, ...]]],
        branches: Sequence[tuple[Any, ColumnElement[bool]]],
        tiebreak: Any,
    ) -> None:
        self.keys = [branches[0][0], tiebreak]
        self._names = ["match", tiebreak.key]
        self._first = Read(self._merged(build, branches, tiebreak, after=False))
        self._next = Read(self._merged(build, branches, tiebreak, after=True))

    @staticmethod
    def _merged(
        build: Callable[[], Select[*tuple[Any, ...]]],
        branches: Sequence[tuple[Any, ColumnElement[bool]]],
        tiebreak: Any,
        after: bool,
    ) -> Select[*tuple[Any, ...]]:
        parts = []
        for n, (key, matches) in enumerate(branches):
            part = build().add_columns(key.label("match")).where(matches)
            part = part.where(*(not_(earlier) for _key, earlier in branches[:n]))
            if after:
                part = part.where(tuple_(key, tiebreak) > _after([key, tiebreak]))
            ordered = part.order_by(key, tiebreak).limit(_LIMIT).subquery(f"branch_{n}")
            parts.append(select(ordered))
        merged = union_all(*parts).subquery("merged")
        return select(merged).order_by(merged.c.match, merged.c[tiebreak.key]).limit(_LIMIT)
