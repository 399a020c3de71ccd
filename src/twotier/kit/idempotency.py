"""``Idempotency-Key`` with Stripe's semantics.

Same key + same request → the first response, replayed. Same key + another request → 422
``idempotency_key_reused``. The key row is inserted in the request's own transaction,
before the work: a concurrent duplicate blocks on the unique index (PostgreSQL) or on the
write lock (SQLite) until the first commits, then finds the stored response.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    Index,
    Integer,
    String,
    UniqueConstraint,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from twotier.kit.clock import utcnow
from twotier.kit.db import Base, IdMixin, dialect_insert
from twotier.kit.errors import Conflict, Invalid, PreconditionRequired
from twotier.kit.fastread import Read

MAX_KEY_LENGTH = 255


class IdempotencyKey(IdMixin, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("scope", "key"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    scope: Mapped[str] = mapped_column(String(100), nullable=False)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int | None] = mapped_column(nullable=True)
    response_body: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(nullable=False)


def fingerprint(request: Request, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    raw = f"{request.method} {request.url.path}\n{canonical}".encode()
    return hashlib.sha256(raw).hexdigest()


@dataclass
class Claimed:
    """A (scope, key) row as ``claim`` found or made it: what the first request stored."""

    id: uuid.UUID
    request_hash: str
    status_code: int | None
    response_body: Any
    expires_at: datetime

    async def done(self, session: AsyncSession, status_code: int, body: Any) -> None:
        """Remember what the first request answered (in its transaction)."""
        await _DONE.all(session, key_id=self.id, status_code=status_code, response_body=body)


def _replay(row: Claimed, request_hash: str) -> JSONResponse:
    if row.request_hash != request_hash:
        raise Invalid(
            "This Idempotency-Key was used with a different request.",
            code="idempotency_key_reused",
        )
    if row.status_code is None:  # only reachable if a writer crashed mid-way without rollback
        raise Conflict(
            "A request with this Idempotency-Key is in progress.",
            code="idempotency_key_in_progress",
        )
    return JSONResponse(
        row.response_body, status_code=row.status_code, headers={"Idempotent-Replayed": "true"}
    )


def _take(dialect_name: str) -> Any:
    table: Any = IdempotencyKey.__table__
    columns = ("id", "scope", "key", "request_hash", "created_at", "expires_at")
    return (
        dialect_insert(dialect_name)(table)
        .values({name: bindparam(name, type_=table.c[name].type) for name in columns})
        .on_conflict_do_nothing(index_elements=["scope", "key"])
        .returning(table.c.id)
    )


# The key taken in one statement: a row back when it was free, none when it was not.
_TAKE = Read(_take("postgresql"), sqlite=_take("sqlite"))
_DONE = Read(
    update(IdempotencyKey)
    .where(IdempotencyKey.id == bindparam("key_id"))
    .values(
        status_code=bindparam("status_code", type_=Integer()),
        response_body=bindparam("response_body", type_=JSON()),
    )
)

_STORED = (
    IdempotencyKey.id,
    IdempotencyKey.request_hash,
    IdempotencyKey.status_code,
    IdempotencyKey.response_body,
    IdempotencyKey.expires_at,
)


async def claim(
    session: AsyncSession, *, scope: str, key: str, request_hash: str, ttl_hours: int
) -> tuple[Claimed, bool]:
    """Take (scope, key) for this request: ``(row, True)`` when it is ours now, or the live
    row another request stored first and ``False``.

    One statement when the key is new: an INSERT that does nothing on a taken key. A
    concurrent duplicate waits on the unique index (PostgreSQL) or the write lock (SQLite)
    until the first one commits, then reads what it stored."""
    now = utcnow()
    expires_at = now + timedelta(hours=ttl_hours)
    for _ in range(2):
        new_id = uuid.uuid4()
        taken = await _TAKE.all(
            session,
            id=new_id,
            scope=scope,
            key=key,
            request_hash=request_hash,
            created_at=now,
            expires_at=expires_at,
        )
        if taken:
            return Claimed(new_id, request_hash, None, None, expires_at), True
        stored = (
            await session.execute(
                select(*_STORED).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
            )
        ).one_or_none()
        if stored is not None and stored.expires_at > now:
            return Claimed(*stored), False
        # Expired (and not yet pruned), or gone since: the key is free again.
        await session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.scope == scope,
                IdempotencyKey.key == key,
                IdempotencyKey.expires_at <= now,
            )
        )
    raise Conflict(  # pragma: no cover — taken, then free, then taken again within one call
        "A request with this Idempotency-Key is in progress.",
        code="idempotency_key_in_progress",
    )


@dataclass
class FormSubmission:
    """A portal form's one-time key, claimed: ``first`` for the first submission of the
    form; otherwise ``same`` says whether it repeated the same request (answer as the first
    did) or reused the form for another (refuse)."""

    first: bool
    same: bool
    _row: Claimed

    async def done(self, session: AsyncSession, status_code: int, body: Any) -> None:
        """Remember what the first submission answered (in its transaction)."""
        await self._row.done(session, status_code, body)


async def submit_form_once(
    session: AsyncSession,
    request: Request,
    *,
    scope: str,
    key: str,
    body: Any,
    ttl_hours: int,
) -> FormSubmission:
    """Claim the one-time key a rendered form carries, so a double-click or a resubmitted
    page cannot do the work twice (the portal's counterpart of ``Idempotency-Key``)."""
    request_hash = fingerprint(request, body)
    row, fresh = await claim(
        session, scope=scope, key=key, request_hash=request_hash, ttl_hours=ttl_hours
    )
    return FormSubmission(first=fresh, same=row.request_hash == request_hash, _row=row)


async def idempotent(
    session: AsyncSession,
    request: Request,
    *,
    scope: str,
    body: Any,
    ttl_hours: int,
    create: Callable[[], Awaitable[tuple[int, Any]]],
    required: bool = False,
) -> JSONResponse:
    """Run ``create`` once per (scope, Idempotency-Key); without a key, just run it (or,
    where a duplicate would cost money, refuse with 428)."""
    key = request.headers.get("Idempotency-Key")
    if key is None and required:
        raise PreconditionRequired(
            "Send an Idempotency-Key header (for example a UUID) so a retry cannot create a "
            "second one.",
            code="idempotency_key_required",
        )
    if key is None:
        status, payload = await create()
        return JSONResponse(payload, status_code=status)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Invalid(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.",
            code="idempotency_key_invalid",
        )
    request_hash = fingerprint(request, body)
    row, fresh = await claim(
        session, scope=scope, key=key, request_hash=request_hash, ttl_hours=ttl_hours
    )
    if not fresh:
        return _replay(row, request_hash)
    status, payload = await create()
    await row.done(session, status, payload)
    return JSONResponse(payload, status_code=status)


async def create_once(
    session: AsyncSession,
    request: Request,
    *,
    scope: str,
    body: BaseModel | dict[str, Any],
    make: Callable[[], Awaitable[BaseModel]],
    required: bool = False,
) -> JSONResponse:
    """The common case of ``idempotent``: a POST that creates one thing, answered 201 with
    its JSON; keys are kept for the configured ``IDEMPOTENCY_TTL_HOURS``."""

    async def create() -> tuple[int, Any]:
        return 201, (await make()).model_dump(mode="json")

    return await idempotent(
        session,
        request,
        scope=scope,
        body=body.model_dump(mode="json") if isinstance(body, BaseModel) else body,
        ttl_hours=request.app.state.settings.idempotency_ttl_hours,
        create=create,
        required=required,
    )


async def prune(session: AsyncSession) -> None:
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at < utcnow()))
