"""One place that says what time it is, so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset_seconds: float = 0.0


def utcnow() -> datetime:
    now = datetime.now(UTC)
    if _offset_seconds:
        now += timedelta(seconds=_offset_seconds)
    return now


def as_utc(value: datetime) -> datetime:
    """``value`` as given when it names its offset; a naive time is taken to be UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def travel(seconds: float) -> None:
    """Move the clock forward (tests only)."""
    global _offset_seconds
    _offset_seconds += seconds


def reset() -> None:
    global _offset_seconds
    _offset_seconds = 0.0
