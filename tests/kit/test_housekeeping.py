"""The worker's hourly housekeeping forgets expired idempotency keys and old rate-limit
windows, and keeps the live ones."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import tenant_body
from twotier.config import Settings
from twotier.kit import clock, housekeeping
from twotier.kit.db import Database
from twotier.kit.idempotency import IdempotencyKey
from twotier.kit.ratelimit import RateLimitCounter, hit


async def keys(session: AsyncSession) -> list[str]:
    return sorted((await session.scalars(select(IdempotencyKey.key))).all())


async def test_expired_keys_and_old_windows_go_live_ones_stay(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    await client.post("/api/v1/tenants", json=tenant_body(), headers={"Idempotency-Key": "old"})
    await hit(session, "signin:old", window_seconds=900)
    clock.travel(settings.idempotency_ttl_hours * 3600 + 60)
    await client.post("/api/v1/tenants", json=tenant_body(), headers={"Idempotency-Key": "new"})
    await hit(session, "signin:new", window_seconds=900)
    assert await keys(session) == ["new", "old"]

    await housekeeping.tidy(db)

    assert await keys(session) == ["new"]
    counters = (await session.scalars(select(RateLimitCounter.key))).all()
    assert counters == ["signin:new"]
