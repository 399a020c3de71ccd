"""The audit trail's hash chain: content hashes at write time, chaining in batches.

A request that changes something writes its audit record with the SHA-256 of the record's
content and nothing else shared, so unrelated requests never wait on each other. The
sealer (run by the outbox worker at every round, and by ``twotier audit verify``) takes the
chain head's row lock, gives the oldest unsealed records the next sequence numbers and
chains them: ``chain_hash = sha256(seq:prev_hash:content_hash)``. ``verify`` recomputes
everything and names the first record that was altered or removed.

What it proves: any edit or removal of a sealed record breaks the chain, unless whoever
edits also rewrites every later record and the head. Copy the head (``verify`` prints it)
somewhere else now and then, and pass it back with ``--expect`` to rule that out too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.audit.models import AuditChainHead, AuditRecord
from twotier.config import Settings
from twotier.kit.clock import utcnow
from twotier.kit.db import Database
from twotier.kit.outbox import periodic

GENESIS = "0" * 64
HEAD_ID = 1


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _str(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def content_of(
    *,
    id: uuid.UUID,
    at: datetime,
    operation: str,
    actor_user_id: uuid.UUID | None,
    actor_tenant_id: uuid.UUID | None,
    actor_partner_id: str | None,
    subject_tenant_id: uuid.UUID | None,
    on_behalf_of_customer_id: uuid.UUID | None,
    resource_type: str,
    resource_id: str | None,
    request_id: str | None,
    detail: dict[str, Any],
) -> dict[str, Any]:
    return {
        "id": str(id),
        "at": _iso(at),
        "operation": operation,
        "actor_user_id": _str(actor_user_id),
        "actor_tenant_id": _str(actor_tenant_id),
        "actor_partner_id": actor_partner_id,
        "subject_tenant_id": _str(subject_tenant_id),
        "on_behalf_of_customer_id": _str(on_behalf_of_customer_id),
        "resource_type": resource_type,
        "resource_id": resource_id,
        "request_id": request_id,
        "detail": detail,
    }


def record_content(record: AuditRecord) -> dict[str, Any]:
    return content_of(
        id=record.id,
        at=record.at,
        operation=record.operation,
        actor_user_id=record.actor_user_id,
        actor_tenant_id=record.actor_tenant_id,
        actor_partner_id=record.actor_partner_id,
        subject_tenant_id=record.subject_tenant_id,
        on_behalf_of_customer_id=record.on_behalf_of_customer_id,
        resource_type=record.resource_type,
        resource_id=record.resource_id,
        request_id=record.request_id,
        detail=record.detail,
    )


def hash_content(content: dict[str, Any]) -> str:
    canonical = json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def chain_hash(seq: int, prev_hash: str, content_hash: str) -> str:
    return hashlib.sha256(f"{seq}:{prev_hash}:{content_hash}".encode()).hexdigest()


async def _lock_head(session: AsyncSession) -> AuditChainHead:
    query = select(AuditChainHead).where(AuditChainHead.id == HEAD_ID).with_for_update()
    head = await session.scalar(query)
    if head is None:  # the migration writes it; an emptied table gets it back here
        with contextlib.suppress(IntegrityError):  # a concurrent sealer wrote it first
            async with session.begin_nested():
                session.add(AuditChainHead(id=HEAD_ID, seq=0, hash=GENESIS, updated_at=utcnow()))
        head = await session.scalar(query)
    assert head is not None  # noqa: S101 — written just above
    return head


async def seal_batch(session: AsyncSession, limit: int) -> int:
    """Chain up to ``limit`` unsealed records, oldest first; returns how many."""
    head = await _lock_head(session)
    rows = (
        await session.scalars(
            select(AuditRecord)
            .where(AuditRecord.seq.is_(None))
            .order_by(AuditRecord.at, AuditRecord.id)
            .limit(limit)
        )
    ).all()
    if not rows:
        return 0
    seq, prev = head.seq, head.hash
    changes: list[dict[str, Any]] = []
    for record in rows:
        seq += 1
        content = record.content_hash or hash_content(record_content(record))
        link = chain_hash(seq, prev, content)
        changes.append(
            {
                "id": record.id,
                "seq": seq,
                "prev_hash": prev,
                "content_hash": content,
                "chain_hash": link,
            }
        )
        prev = link
    await session.execute(update(AuditRecord), changes)
    head.seq, head.hash, head.updated_at = seq, prev, utcnow()
    await session.flush()
    return len(rows)


async def seal(db: Database, settings: Settings) -> int:
    """Seal everything unsealed, one batch per transaction (the lock is held briefly)."""
    total = 0
    while True:
        async with db.write_sessions() as session, session.begin():
            count = await seal_batch(session, settings.audit_seal_batch_size)
        total += count
        if count < settings.audit_seal_batch_size:
            return total


@periodic("audit_seal")
async def _seal_periodically(db: Database, settings: Settings) -> None:
    await seal(db, settings)


@dataclass(frozen=True)
class Problem:
    seq: int
    record_id: uuid.UUID | None
    what: str

    def __str__(self) -> str:
        which = f"record #{self.seq}" + (f" ({self.record_id})" if self.record_id else "")
        return f"{which}: {self.what}"


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    head_seq: int
    head_hash: str
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


async def _sealed(session: AsyncSession, page: int = 1000) -> AsyncIterator[AuditRecord]:
    after = 0
    while True:
        rows = (
            await session.scalars(
                select(AuditRecord)
                .where(AuditRecord.seq > after)
                .order_by(AuditRecord.seq)
                .limit(page)
            )
        ).all()
        if not rows:
            return
        for row in rows:
            yield row
        after = rows[-1].seq or after


async def verify(session: AsyncSession) -> VerifyResult:
    """Walk the chain from the start; stop at the first record altered or removed."""
    head = await session.get(AuditChainHead, HEAD_ID)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    expected, prev, checked = 1, GENESIS, 0

    def result(problem: Problem | None) -> VerifyResult:
        return VerifyResult(checked, head_seq, head_hash, problem)

    async for record in _sealed(session):
        assert record.seq is not None  # noqa: S101 — selected by seq
        if record.seq != expected:
            gap = (
                f"record #{expected} was removed"
                if record.seq == expected + 1
                else f"records #{expected} to #{record.seq - 1} were removed"
            )
            return result(Problem(expected, None, f"{gap} (the chain jumps to #{record.seq})"))
        if record.prev_hash != prev:
            return result(
                Problem(
                    record.seq,
                    record.id,
                    "its link to the previous record was altered",
                )
            )
        if hash_content(record_content(record)) != record.content_hash:
            return result(
                Problem(record.seq, record.id, "was altered (its content no longer matches)")
            )
        if chain_hash(record.seq, prev, record.content_hash) != record.chain_hash:
            return result(Problem(record.seq, record.id, "was altered (its chain hash is wrong)"))
        prev = record.chain_hash
        expected += 1
        checked += 1
    last = expected - 1
    if head_seq > last:
        what = (
            f"record #{head_seq} was removed"
            if head_seq == last + 1
            else f"records #{last + 1} to #{head_seq} were removed"
        )
        return result(Problem(last + 1, None, f"{what} (the chain head says #{head_seq})"))
    if head_seq != last or head_hash != prev:
        return result(Problem(head_seq, None, "the chain head was altered"))
    return result(None)


async def chain_hash_at(session: AsyncSession, seq: int) -> str | None:
    return await session.scalar(select(AuditRecord.chain_hash).where(AuditRecord.seq == seq))


def export_line(record: AuditRecord) -> dict[str, Any]:
    """One JSON Lines row: the record's content and its place in the chain."""
    return record_content(record) | {
        "content_hash": record.content_hash,
        "seq": record.seq,
        "prev_hash": record.prev_hash,
        "chain_hash": record.chain_hash,
    }


async def export(
    session: AsyncSession, since: datetime | None, until: datetime | None, page: int = 1000
) -> AsyncIterator[dict[str, Any]]:
    """Records with ``since <= at < until``, oldest first, read in keyset pages."""
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        stmt = select(AuditRecord)
        if since is not None:
            stmt = stmt.where(AuditRecord.at >= since)
        if until is not None:
            stmt = stmt.where(AuditRecord.at < until)
        if after is not None:
            stmt = stmt.where(
                (AuditRecord.at > after[0])
                | ((AuditRecord.at == after[0]) & (AuditRecord.id > after[1]))
            )
        rows = (
            await session.scalars(stmt.order_by(AuditRecord.at, AuditRecord.id).limit(page))
        ).all()
        if not rows:
            return
        for row in rows:
            yield export_line(row)
        after = (rows[-1].at, rows[-1].id)
