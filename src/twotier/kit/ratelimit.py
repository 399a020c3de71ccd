"""Fixed-window counters in the database, so every process shares them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from twotier.kit.clock import utcnow
from twotier.kit.db import Base, dialect_insert


class RateLimitCounter(Base):
    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(nullable=False, default=0)
    # When the window's latest event was counted: growing delays are measured from it.
    last_hit_at: Mapped[datetime | None] = mapped_column(nullable=True)


@dataclass(frozen=True)
class Window:
    count: int
    last_hit_at: datetime | None
    ends_at: datetime


def _window(now: datetime, seconds: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


async def retry_after(
    session: AsyncSession, key: str, *, limit: int, window_seconds: int
) -> int | None:
    """Seconds to wait if ``key`` has used up its window, else None."""
    now = utcnow()
    start = _window(now, window_seconds)
    count = await session.scalar(
        select(RateLimitCounter.count).where(
            RateLimitCounter.key == key, RateLimitCounter.window_start == start
        )
    )
    if count is not None and count >= limit:
        return int((start + timedelta(seconds=window_seconds) - now).total_seconds()) + 1
    return None


def _upsert(session: AsyncSession, values: dict[str, Any], set_: dict[str, Any]) -> Any:
    return (
        dialect_insert(session.get_bind().dialect.name)(RateLimitCounter)
        .values(**values)
        .on_conflict_do_update(
            index_elements=[RateLimitCounter.key, RateLimitCounter.window_start], set_=set_
        )
    )


async def hit(session: AsyncSession, key: str, *, window_seconds: int) -> None:
    """Count one event against ``key`` in the current window (atomic upsert)."""
    now = utcnow()
    start = _window(now, window_seconds)
    stmt = _upsert(
        session,
        {"key": key, "window_start": start, "count": 1, "last_hit_at": now},
        {"count": RateLimitCounter.count + 1, "last_hit_at": now},
    )
    await session.execute(stmt)


async def hold(session: AsyncSession, key: str, *, window_seconds: int) -> Window:
    """The current window of ``key``, its row locked until the transaction ends.

    An upsert that changes nothing: concurrent requests holding one key take turns, so
    none of them decides on counts another is about to raise.
    """
    start = _window(utcnow(), window_seconds)
    stmt = _upsert(
        session,
        {"key": key, "window_start": start, "count": 0},
        {"count": RateLimitCounter.count},
    ).returning(RateLimitCounter.count, RateLimitCounter.last_hit_at)
    count, last_hit_at = (await session.execute(stmt)).one()
    return Window(count, last_hit_at, start + timedelta(seconds=window_seconds))


async def window(session: AsyncSession, key: str, *, window_seconds: int) -> Window:
    """The current window of ``key`` (count 0 when nothing was counted yet)."""
    start = _window(utcnow(), window_seconds)
    row = (
        await session.execute(
            select(RateLimitCounter.count, RateLimitCounter.last_hit_at).where(
                RateLimitCounter.key == key, RateLimitCounter.window_start == start
            )
        )
    ).one_or_none()
    ends_at = start + timedelta(seconds=window_seconds)
    return Window(row[0], row[1], ends_at) if row else Window(0, None, ends_at)


async def clear(session: AsyncSession, key: str) -> None:
    await session.execute(delete(RateLimitCounter).where(RateLimitCounter.key == key))


async def prune(session: AsyncSession, older_than: datetime) -> None:
    await session.execute(
        delete(RateLimitCounter).where(RateLimitCounter.window_start < older_than)
    )
