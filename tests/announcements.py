"""What one call announced, exactly (Zulip's ``capture_send_event_calls``).

    with announced() as got:
        response = await client.post(...)
    assert got.audit == ["reseller_invitation_created"]
    assert got.events == ["reseller_invitation_created"]

It watches the ORM's flushes (every session, the app's requests' included) for new audit
records and events, so it sees them however the code under test writes them; lists are in
write order. ``got.records`` and ``got.told`` hold the objects (audience, on-behalf-of).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from twotier.audit.models import AuditRecord
from twotier.events.models import Event


@dataclass
class Announced:
    records: list[AuditRecord] = field(default_factory=list)
    told: list[Event] = field(default_factory=list)

    @property
    def audit(self) -> list[str]:
        return [r.operation for r in self.records]

    @property
    def events(self) -> list[str]:
        return [str(e.type) for e in self.told]

    def audience_of(self, type_: str) -> set[str]:
        """The tenants (ids as text) told of the one event of ``type_``."""
        [only] = [e for e in self.told if e.type == type_]
        return set(only.audience)


@contextmanager
def announced(*, committed: bool = True) -> Iterator[Announced]:
    """Capture the audit records and events written inside the block, in the order the code
    added them. With ``committed`` (the default, for requests) only those whose transaction
    committed count, so a refused request announced nothing; ``committed=False`` counts
    what was flushed (a service called on the test's own session)."""
    got = Announced()
    order: dict[int, int] = {}
    flushed: dict[int, list[Any]] = {}  # per session, written but not yet committed
    kept: list[Any] = []

    def attached(_session: Session, obj: Any) -> None:
        if isinstance(obj, AuditRecord | Event) and id(obj) not in order:
            order[id(obj)] = len(order)

    def flushing(session: Session, _context: Any, _instances: Any) -> None:
        new = [o for o in session.new if isinstance(o, AuditRecord | Event)]
        (kept if not committed else flushed.setdefault(id(session), [])).extend(new)

    def commit(session: Session) -> None:
        kept.extend(flushed.pop(id(session), []))

    def rollback(session: Session, previous: Any) -> None:
        if not previous.nested:  # a savepoint's rollback leaves the transaction going
            flushed.pop(id(session), None)

    listeners: list[tuple[str, Callable[..., Any]]] = [
        ("after_attach", attached),
        ("before_flush", flushing),
        ("after_commit", commit),
        ("after_soft_rollback", rollback),
    ]
    for name, fn in listeners:
        event.listen(Session, name, fn)
    try:
        yield got
    finally:
        for name, fn in listeners:
            event.remove(Session, name, fn)
        seen = sorted(dict.fromkeys(kept), key=lambda o: order.get(id(o), len(order)))
        got.records[:] = [o for o in seen if isinstance(o, AuditRecord)]
        got.told[:] = [o for o in seen if isinstance(o, Event)]
