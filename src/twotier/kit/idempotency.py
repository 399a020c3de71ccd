"""``Idempotency-Key`` with Stripe's semantics.

Same key + same request → the first response, replayed. Same key + another request → 422
``idempotency_key_reused``. The key row is inserted in the request's own transaction,
before the work: a concurrent duplicate blocks on the unique index (PostgreSQL) or on the
write lock (SQLite) until the first commits, then finds the stored response.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import JSON, Index, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from twotier.kit.clock import utcnow
from twotier.kit.db import Base, IdMixin
from twotier.kit.errors import Conflict, Invalid, PreconditionRequired

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


def _replay(row: IdempotencyKey, request_hash: str) -> JSONResponse:
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


async def claim(
    session: AsyncSession, *, scope: str, key: str, request_hash: str, ttl_hours: int
) -> tuple[IdempotencyKey, bool]:
    """Take (scope, key) for this request: ``(row, True)`` when it is ours now, or the live
    row another request stored first and ``False``. A concurrent duplicate waits on the
    unique index (PostgreSQL) or the write lock (SQLite) until the first one commits."""
    now = utcnow()

    async def existing() -> IdempotencyKey | None:
        return await session.scalar(
            select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        )

    row = await existing()
    if row is not None and row.expires_at > now:
        return row, False
    if row is not None:
        await session.delete(row)
        await session.flush()
    row = IdempotencyKey(
        scope=scope,
        key=key,
        request_hash=request_hash,
        expires_at=now + timedelta(hours=ttl_hours),
    )
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Another request with this key committed first.
        winner = await existing()
        if winner is None:  # pragma: no cover — the winner cannot vanish inside our txn
            raise
        return winner, False
    return row, True


@dataclass
class FormSubmission:
    """A portal form's one-time key, claimed: ``first`` for the first submission of the
    form; otherwise ``same`` says whether it repeated the same request (answer as the first
    did) or reused the form for another (refuse)."""

    first: bool
    same: bool
    _row: IdempotencyKey

    async def done(self, session: AsyncSession, status_code: int, body: Any) -> None:
        """Remember what the first submission answered (in its transaction)."""
        self._row.status_code = status_code
        self._row.response_body = body
        await session.flush()


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
    row.status_code = status
    row.response_body = payload
    await session.flush()
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
