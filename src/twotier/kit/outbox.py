"""Transactional outbox: side effects written with the change, delivered after commit.

A row is written in the request's transaction, so it exists only if the change committed.
Workers claim due rows for a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's
single writer serialises claims), deliver them, and mark them. A worker that dies keeps
its claim only until the lease runs out; then another worker retries the row.
Delivery is at least once; handlers make retries recognisable (stable Message-ID,
webhook-id).

Messages that share an ``ordering_key`` go out one at a time, in the order they were
written: a later one is not claimed while an earlier one is still pending (Pub/Sub-style
ordering keys; webhooks use one key per endpoint). A handler that owns its retry schedule
raises ``Retry(delay)``; ``periodic`` jobs (the audit sealer) run at every delivery round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import JSON, CursorResult, Index, String, Text, and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, aliased, mapped_column

from twotier.config import Settings
from twotier.kit.clock import utcnow
from twotier.kit.db import Base, Database, IdMixin

log = logging.getLogger(__name__)

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"


class OutboxMessage(IdMixin, Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
        Index("ix_outbox_messages_ordering", "ordering_key", "status", "created_at", "id"),
    )

    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=PENDING)
    attempts: Mapped[int] = mapped_column(nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    claim_token: Mapped[uuid.UUID | None] = mapped_column(nullable=True, index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Messages with the same key are delivered one at a time, in (created_at, id) order.
    ordering_key: Mapped[str | None] = mapped_column(String(80), nullable=True)


class Retry(Exception):
    """Raised by a handler that schedules its own retries: try again in ``delay`` seconds
    (the worker's attempt limit does not apply)."""

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.delay = delay


Handler = Callable[[dict[str, Any], "DeliveryContext"], Awaitable[None]]
_handlers: dict[str, Handler] = {}


@dataclass(frozen=True)
class DeliveryContext:
    settings: Settings
    db: Database
    message_id: uuid.UUID
    attempt: int


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the delivery function for one kind of outbox message."""

    def register(fn: Handler) -> Handler:
        _handlers[kind] = fn
        return fn

    return register


Periodic = Callable[[Database, Settings], Awaitable[None]]
_periodic: dict[str, Periodic] = {}


def periodic(name: str) -> Callable[[Periodic], Periodic]:
    """Register a job the worker runs at the start of every delivery round."""

    def register(fn: Periodic) -> Periodic:
        _periodic[name] = fn
        return fn

    return register


_last_stamp: datetime | None = None


def _ordered_now() -> datetime:
    """utcnow(), strictly increasing within this process, so messages written one after
    the other (even in one transaction) keep their order under an ordering key."""
    global _last_stamp
    now = utcnow()
    last = _last_stamp
    if last is not None and last - timedelta(seconds=1) < now <= last:
        now = last + timedelta(microseconds=1)
    _last_stamp = now
    return now


def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    ordering_key: str | None = None,
) -> OutboxMessage:
    """Write a side effect in the caller's transaction; the worker wakes after commit."""
    now = _ordered_now()
    message = OutboxMessage(
        id=uuid.uuid4(),
        kind=kind,
        payload=payload,
        status=PENDING,
        next_attempt_at=now,
        created_at=now,
        ordering_key=ordering_key,
    )
    session.add(message)
    session.info["outbox_written"] = True
    return message


def backoff_seconds(attempt: int, base: float, cap: float = 6 * 3600.0) -> float:
    """Exponential backoff with jitter: half the ceiling plus up to half again; the
    ceiling doubles per attempt from ``base`` up to ``cap`` (six hours unless given)."""
    ceiling: float = min(base * (2 ** max(0, attempt - 1)), cap)
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 — jitter, not security


class Worker:
    def __init__(self, db: Database, settings: Settings, *, name: str | None = None) -> None:
        self.db = db
        self.settings = settings
        self.name = name or f"worker-{uuid.uuid4().hex[:8]}"
        self.wakeup = asyncio.Event()
        self._stopping = False

    async def _claim(self) -> list[OutboxMessage]:
        now = utcnow()
        token = uuid.uuid4()
        earlier = aliased(OutboxMessage)
        # Under an ordering key, only the oldest pending message may go.
        blocked = exists().where(
            earlier.ordering_key == OutboxMessage.ordering_key,
            earlier.status == PENDING,
            or_(
                earlier.created_at < OutboxMessage.created_at,
                and_(
                    earlier.created_at == OutboxMessage.created_at,
                    earlier.id < OutboxMessage.id,
                ),
            ),
        )
        due = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.status == PENDING,
                OutboxMessage.next_attempt_at <= now,
                (OutboxMessage.claimed_until.is_(None)) | (OutboxMessage.claimed_until < now),
                or_(OutboxMessage.ordering_key.is_(None), ~blocked),
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(self.settings.outbox_batch_size)
            .with_for_update(skip_locked=True)
        )
        async with self.db.write_sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(due))
                .values(
                    claim_token=token,
                    claimed_until=now + timedelta(seconds=self.settings.outbox_lease_seconds),
                    attempts=OutboxMessage.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            rows = await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.claim_token == token)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            )
            return list(rows.all())

    async def _finish(
        self, message: OutboxMessage, error: str | None, retry_in: float | None = None
    ) -> None:
        now = utcnow()
        values: dict[str, Any]
        if error is None:
            values = {"status": DELIVERED, "delivered_at": now, "last_error": None}
        elif retry_in is not None:
            values = {"next_attempt_at": now + timedelta(seconds=retry_in), "last_error": error}
        elif message.attempts >= self.settings.outbox_max_attempts:
            values = {"status": DEAD, "last_error": error}
        else:
            delay = backoff_seconds(message.attempts, self.settings.outbox_backoff_base_seconds)
            values = {"next_attempt_at": now + timedelta(seconds=delay), "last_error": error}
        values |= {"claim_token": None, "claimed_until": None}
        async with self.db.write_sessions() as session, session.begin():
            # Only while our claim holds: a lease that ran out belongs to another worker now.
            await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == message.id,
                    OutboxMessage.claim_token == message.claim_token,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def _still_ours(self, message: OutboxMessage) -> bool:
        """Before delivering a claimed row, make sure the claim still holds.

        A batch is claimed under one lease; if earlier deliveries were slow, the lease of
        the rows not yet started may have run out and another worker may have taken them.
        With less than half the lease left, renew it (only while our token holds).
        """
        lease = timedelta(seconds=self.settings.outbox_lease_seconds)
        now = utcnow()
        if message.claimed_until is not None and now < message.claimed_until - lease / 2:
            return True
        async with self.db.write_sessions() as session, session.begin():
            result = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == message.id,
                    OutboxMessage.claim_token == message.claim_token,
                    OutboxMessage.status == PENDING,
                )
                .values(claimed_until=now + lease)
                .execution_options(synchronize_session=False)
            )
        if cast("CursorResult[Any]", result).rowcount != 1:
            log.info(
                "outbox %s %s: claim lost to another worker, skipped", message.kind, message.id
            )
            return False
        message.claimed_until = now + lease
        return True

    async def _deliver(self, message: OutboxMessage) -> None:
        fn = _handlers.get(message.kind)
        error: str | None = None
        retry_in: float | None = None
        if fn is None:
            error = f"no handler for outbox kind {message.kind!r}"
        else:
            ctx = DeliveryContext(self.settings, self.db, message.id, message.attempts)
            try:
                await fn(message.payload, ctx)
            except Retry as exc:
                error, retry_in = str(exc)[:2000] or "retry", exc.delay
            except Exception as exc:  # any failure is retried later
                error = f"{type(exc).__name__}: {exc}"[:2000]
                log.warning(
                    "outbox %s %s failed (attempt %s): %s",
                    message.kind,
                    message.id,
                    message.attempts,
                    error,
                )
        await self._finish(message, error, retry_in)

    async def run_periodic(self) -> None:
        for name, fn in list(_periodic.items()):
            try:
                await fn(self.db, self.settings)
            except Exception:
                log.exception("outbox worker %s: periodic job %s failed", self.name, name)

    async def run_once(self) -> int:
        """Deliver every row that is due now; returns how many were attempted."""
        await self.run_periodic()
        total = 0
        while True:
            batch = await self._claim()
            if not batch:
                return total
            for message in batch:
                if await self._still_ours(message):
                    await self._deliver(message)
                    total += 1

    async def run_forever(self) -> None:
        log.info("outbox worker %s started", self.name)
        while not self._stopping:
            try:
                await self.run_once()
            except Exception:
                log.exception("outbox worker %s: delivery round failed", self.name)
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), self.settings.outbox_poll_seconds)

    def stop(self) -> None:
        self._stopping = True
        self.wakeup.set()
