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
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from twotier.audit.models import AuditChainHead, AuditRecord
from twotier.config import Settings
from twotier.kit.clock import utcnow
from twotier.kit.db import Database
from twotier.kit.outbox import periodic
from twotier.kit.pagination import PageParams, paginate

GENESIS = "0" * 64
HEAD_ID = 1


# The fields a record's content hash covers (changing them changes every hash).
CONTENT_FIELDS = (
    "id",
    "at",
    "operation",
    "actor_user_id",
    "actor_tenant_id",
    "actor_partner_id",
    "subject_tenant_id",
    "on_behalf_of_customer_id",
    "resource_type",
    "resource_id",
    "request_id",
    "detail",
)


def _plain(value: Any) -> Any:
    """Times as ISO 8601 and ids as strings; everything else as it is."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def content_of(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The hashed content of a record whose ``CONTENT_FIELDS`` are in ``fields``."""
    return {name: _plain(fields[name]) for name in CONTENT_FIELDS}


def record_content(record: AuditRecord) -> dict[str, Any]:
    return content_of({name: getattr(record, name) for name in CONTENT_FIELDS})


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
    """Seal everything unsealed, one batch per transaction (the lock is held briefly).

    With nothing to seal (most worker rounds) it only reads, and takes no write lock.
    """
    async with db.read_sessions() as session:
        unsealed = await session.scalar(
            select(AuditRecord.id).where(AuditRecord.seq.is_(None)).limit(1)
        )
    if unsealed is None:
        return 0
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


async def _walk(
    session: AsyncSession,
    stmt: Select[AuditRecord],
    keys: Sequence[InstrumentedAttribute[Any]],
    page: int,
) -> AsyncIterator[AuditRecord]:
    """Every record ``stmt`` selects, in ``keys`` order, read ``page`` at a time."""
    params = PageParams(limit=page, cursor=None)
    while True:
        rows, cursor = await paginate(session, stmt, keys=keys, params=params)
        for row in rows:
            yield row
        if cursor is None:
            return
        params = PageParams(limit=page, cursor=cursor)


def _sealed(session: AsyncSession, page: int = 1000) -> AsyncIterator[AuditRecord]:
    stmt = select(AuditRecord).where(AuditRecord.seq > 0)
    return _walk(session, stmt, [AuditRecord.seq], page)


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
    stmt = select(AuditRecord)
    if since is not None:
        stmt = stmt.where(AuditRecord.at >= since)
    if until is not None:
        stmt = stmt.where(AuditRecord.at < until)
    async for row in _walk(session, stmt, [AuditRecord.at, AuditRecord.id], page):
        yield export_line(row)
