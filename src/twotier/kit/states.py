"""State machines: each status column's transitions in one table that its service consults.

    LINK = Machine("reseller link", {LinkStatus.active: {LinkStatus.terminated}})
    LINK.move(link, LinkStatus.terminated)   # sets link.status, or raises

A refused move is a ``Conflict`` with the machine's code (the service says the friendlier
thing first where it has one); a state with no entry is final.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from twotier.kit.errors import Conflict

S = TypeVar("S", bound=StrEnum)


class HasStatus(Protocol):
    status: Any


class Machine(Generic[S]):
    def __init__(self, name: str, transitions: Mapping[S, Iterable[S]]) -> None:
        self.name = name
        self.transitions: dict[S, frozenset[S]] = {
            state: frozenset(targets) for state, targets in transitions.items()
        }

    def allows(self, current: S, target: S) -> bool:
        return target in self.transitions.get(current, frozenset())

    def check(self, current: S, target: S, *, code: str = "invalid_transition") -> None:
        if not self.allows(current, target):
            raise Conflict(
                f"A {self.name} that is {current.value} cannot become {target.value}.", code=code
            )

    def move(self, obj: HasStatus, target: S, *, code: str = "invalid_transition") -> None:
        """Check ``obj.status → target`` against the table, then set it."""
        self.check(obj.status, target, code=code)
        obj.status = target
