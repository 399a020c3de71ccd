"""Fixed-window counters in the database, so every process shares them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from twotier.kit.clock import utcnow
from twotier.kit.db import Base


class RateLimitCounter(Base):
    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(nullable=False, default=0)


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


async def hit(session: AsyncSession, key: str, *, window_seconds: int) -> None:
    """Count one event against ``key`` in the current window (atomic upsert)."""
    start = _window(utcnow(), window_seconds)
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(RateLimitCounter).values(key=key, window_start=start, count=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[RateLimitCounter.key, RateLimitCounter.window_start],
        set_={"count": RateLimitCounter.count + 1},
    )
    await session.execute(stmt)


async def clear(session: AsyncSession, key: str) -> None:
    await session.execute(delete(RateLimitCounter).where(RateLimitCounter.key == key))


async def prune(session: AsyncSession, older_than: datetime) -> None:
    await session.execute(
        delete(RateLimitCounter).where(RateLimitCounter.window_start < older_than)
    )
