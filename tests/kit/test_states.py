"""State machines: a move the table allows sets the status; any other is a 409."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from twotier.commerce.models import SUBSCRIPTION, SubscriptionStatus
from twotier.kit.errors import Conflict

S = SubscriptionStatus


@dataclass
class Row:
    status: SubscriptionStatus


def test_an_allowed_move_sets_the_status() -> None:
    row = Row(S.active)
    seen = []
    for target in (S.suspended, S.active, S.cancelled):
        SUBSCRIPTION.move(row, target)
        seen.append(row.status)
    assert seen == [S.suspended, S.active, S.cancelled]


def test_a_move_out_of_a_final_state_is_refused_and_changes_nothing() -> None:
    row = Row(S.cancelled)
    with pytest.raises(Conflict) as refused:
        SUBSCRIPTION.move(row, S.active)
    assert refused.value.code == "invalid_transition"
    assert row.status == S.cancelled
    assert SUBSCRIPTION.allows(S.suspended, S.cancelled)
    assert not SUBSCRIPTION.allows(S.cancelled, S.suspended)
