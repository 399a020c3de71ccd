"""One place that says what time it is, so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset_seconds: float = 0.0


def utcnow() -> datetime:
    now = datetime.now(UTC)
    if _offset_seconds:
        now += timedelta(seconds=_offset_seconds)
    return now


def travel(seconds: float) -> None:
    """Move the clock forward (tests only)."""
    global _offset_seconds
    _offset_seconds += seconds


def reset() -> None:
    global _offset_seconds
    _offset_seconds = 0.0
