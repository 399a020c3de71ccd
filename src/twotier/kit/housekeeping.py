"""Housekeeping the worker does about once an hour: forget expired idempotency keys and
rate-limit windows long past (both would otherwise grow for ever)."""

from __future__ import annotations

from datetime import datetime, timedelta

from twotier.config import Settings
from twotier.kit import idempotency, ratelimit
from twotier.kit.clock import utcnow
from twotier.kit.db import Database
from twotier.kit.outbox import periodic

EVERY = timedelta(hours=1)
# Longer than any rate-limit window in use.
RATE_LIMIT_KEEP = timedelta(days=1)

_last_run: datetime | None = None


async def tidy(db: Database) -> None:
    async with db.write_sessions() as session, session.begin():
        await idempotency.prune(session)
        await ratelimit.prune(session, utcnow() - RATE_LIMIT_KEEP)


@periodic("housekeeping")
async def _tidy_hourly(db: Database, _settings: Settings) -> None:
    global _last_run
    now = utcnow()
    if _last_run is not None and now - _last_run < EVERY:
        return
    _last_run = now
    await tidy(db)
