"""What one call announced: every audit record and event written inside a block.

    async with announced() as got:        # announced(session) flushes it at the end
        response = await client.post(...)
    assert got.audit == ["reseller_invitation_created"]
    assert got.events == ["reseller_invitation_created"]
    assert got.audience("reseller_invitation_created") == {provider_tenant_id}

The capture listens to the database driver's side of SQLAlchemy (``after_execute`` on every
``Engine``), not to the services: any INSERT into ``audit_records`` or ``events`` inside the
block is seen, whether it came from a unit-of-work flush (``session.add``), an ORM bulk insert
or a Core ``insert()``, through whichever session or connection (the app's per-request
sessions included). So it does not care how the code under test pairs its audit records
with its events, only what reaches the database.

What it sees is what was sent: a request that flushes and then rolls back (an error answer)
still shows its rows here, so check the response's status too. Whatever is not flushed by
the end of the block is not seen: HTTP requests commit before they answer; for direct
service calls pass the session, which is flushed when the block ends.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from twotier.audit.models import AuditRecord
from twotier.events.models import Event

AUDIT_TABLE = AuditRecord.__tablename__
EVENT_TABLE = Event.__tablename__
_MULTI_VALUES = re.compile(r".+_m(\d+)")


@dataclass(eq=False)
class Announced:
    """The audit records and events written inside one block, each list in write order.

    The objects are detached copies of the inserted values (``AuditRecord``/``Event``), for
    checks beyond the names: ``on_behalf_of_customer_id``, ``actor``, ``data``...
    """

    audit_records: list[AuditRecord] = field(default_factory=list)
    event_rows: list[Event] = field(default_factory=list)

    @property
    def audit(self) -> list[str]:
        """The audit records' operations."""
        return [r.operation for r in self.audit_records]

    @property
    def events(self) -> list[str]:
        """The events' types."""
        return [e.type for e in self.event_rows]

    def event(self, type_: str) -> Event:
        """The one event of ``type_`` (an AssertionError if there is none or several)."""
        found = [e for e in self.event_rows if e.type == type_]
        assert len(found) == 1, f"{len(found)} {type_!r} events among {self.events}"
        return found[0]

    def record(self, operation: str) -> AuditRecord:
        """The one audit record of ``operation`` (an AssertionError if none or several)."""
        found = [r for r in self.audit_records if r.operation == operation]
        assert len(found) == 1, f"{len(found)} {operation!r} records among {self.audit}"
        return found[0]

    def audience(self, type_: str) -> set[str]:
        """The tenant ids (strings) the one event of ``type_`` is for."""
        return set(self.event(type_).audience)

    def audiences(self) -> list[set[str]]:
        """Each event's audience, in write order."""
        return [set(e.audience) for e in self.event_rows]


_open: list[Announced] = []


def _inserted_rows(
    stmt: Insert, multiparams: Sequence[Mapping[str, Any]], params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The rows an INSERT wrote, by column key, however its values were given."""
    columns = [c.key for c in stmt.table.columns]
    if stmt.select is not None:
        raise AssertionError(
            f"INSERT INTO {stmt.table.name} ... SELECT: its rows cannot be told from the "
            "statement; write them with session.add() or insert() with values"
        )
    given = list(multiparams) or ([params] if params else [])
    if given:  # a flush, an executemany, or insert() executed with parameters
        return [{k: v for k, v in row.items() if k in columns} for row in given]
    # insert().values(...): one row's values by column key, further rows' suffixed _m<n>.
    compiled = stmt.compile().params
    count = 1 + max(
        (int(m.group(1)) for key in compiled if (m := _MULTI_VALUES.fullmatch(key))), default=0
    )
    return [
        {
            c: compiled.get(f"{c}_m{n}", compiled.get(c) if n == 0 else None)
            for c in columns
            if f"{c}_m{n}" in compiled or (n == 0 and c in compiled)
        }
        for n in range(count)
    ]


def _after_execute(
    conn: Connection,
    clauseelement: Any,
    multiparams: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    execution_options: Mapping[str, Any],
    result: Any,
) -> None:
    if not _open or not isinstance(clauseelement, Insert):
        return
    table = getattr(clauseelement.table, "name", None)
    if table not in (AUDIT_TABLE, EVENT_TABLE):
        return
    for row in _inserted_rows(clauseelement, multiparams, params):
        for got in _open:
            if table == AUDIT_TABLE:
                got.audit_records.append(AuditRecord(**row))
            else:
                got.event_rows.append(Event(**row))


@asynccontextmanager
async def announced(*sessions: AsyncSession) -> AsyncIterator[Announced]:
    """Capture every audit record and event written until the block ends.

    ``sessions`` (for direct service calls) are flushed when the block ends without an
    error, so what they hold pending is written, and seen, inside it. Blocks may nest:
    each sees everything written while it is open.
    """
    got = Announced()
    if not _open:
        event.listen(Engine, "after_execute", _after_execute)
    _open.append(got)
    try:
        yield got
        for session in sessions:
            await session.flush()
    finally:
        _open.remove(got)
        if not _open:
            event.remove(Engine, "after_execute", _after_execute)


def tenant_ids(*ids: uuid.UUID | str) -> set[str]:
    """Tenant ids as an event's audience holds them (strings)."""
    return {str(i) for i in ids}
