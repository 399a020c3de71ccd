"""The audit trail's hash chain: keyed content hashes at write time, chaining in batches.

A request that changes something writes its audit record with an HMAC of the record's
content (keyed with ``TWOTIER_AUDIT_KEY``, which is not in the database) and nothing else
shared, so unrelated requests never wait on each other. The sealer (run by the outbox worker
at every round, and by ``twotier audit verify``) takes the chain head's row lock, checks each
unsealed record's hash, gives the authentic ones the next sequence numbers and chains them:
``chain_hash = HMAC(seq:prev_hash:content_hash)``. A row whose hash does not match was
written by hand: the sealer marks it refused, keeps it out of the chain and emails the
operators. ``verify`` recomputes everything and names every record altered, removed or
inserted.

Records sealed before keyed hashing (``hash_version`` 1) keep their plain SHA-256 hashes and
verify as they always did; once keyed records follow them, the first keyed record's chain
hash pins them. Without the key, a database writer can neither forge a record nor re-chain
around an edit or a removal. Two things remain that only a copy kept elsewhere can rule out:
cutting records off the end (and moving the head back), and rewriting the whole chain with
unkeyed hashes. Copy the head (``verify`` prints it) somewhere else now and then, and pass
it back with ``--expect``.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from twotier.audit import emails
from twotier.audit.models import AuditChainHead, AuditRecord
from twotier.audit.service import (
    KEYED,
    LEGACY,
    digest,
    hash_content,
    plain,
    record_content,
)
from twotier.config import Settings
from twotier.kit.clock import utcnow
from twotier.kit.db import Database
from twotier.kit.outbox import periodic
from twotier.kit.pagination import PageParams, paginate

log = logging.getLogger(__name__)

GENESIS = "0" * 64
HEAD_ID = 1


def chain_hash(
    seq: int, prev_hash: str, content_hash: str, *, version: int = KEYED, key: bytes
) -> str:
    return digest(f"{seq}:{prev_hash}:{content_hash}".encode(), version, key)


def _same(computed: str, stored: str | None) -> bool:
    return stored is not None and hmac.compare_digest(computed, stored)


def forgery(record: AuditRecord, key: bytes) -> str | None:
    """Why a record cannot be one twotier wrote since keyed hashing; None if it can."""
    if record.content_hash is None:
        return "it has no content hash"
    if record.hash_version != KEYED:
        return "its hash is not keyed (twotier's are)"
    if not _same(hash_content(record_content(record), key=key), record.content_hash):
        return "its content hash does not match"
    return None


def is_authentic(record: AuditRecord, key: bytes) -> bool:
    """Whether a record carries the keyed hash of its content (twotier wrote it)."""
    return forgery(record, key) is None


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


async def _key_holds(session: AsyncSession, head: AuditChainHead, key: bytes) -> bool:
    """Whether ``key`` verifies the newest sealed keyed record (with the wrong key, every
    genuine record would be refused)."""
    newest = await session.scalar(
        select(AuditRecord)
        .where(AuditRecord.seq <= head.seq, AuditRecord.hash_version == KEYED)
        .order_by(AuditRecord.seq.desc())
        .limit(1)
    )
    return newest is None or is_authentic(newest, key)


@dataclass(frozen=True)
class SealedBatch:
    sealed: int
    refused: int

    @property
    def examined(self) -> int:
        return self.sealed + self.refused


async def seal_batch(session: AsyncSession, settings: Settings, limit: int) -> SealedBatch:
    """Chain up to ``limit`` unsealed records, oldest first; refuse those whose hash does
    not match (marked, left out of the chain, the operators emailed once for the batch)."""
    key = settings.audit_hash_key
    head = await _lock_head(session)
    # Only the sealer numbers records, under this lock: a row already past the head was
    # written there by hand, and would otherwise take the number the next record needs.
    past = (
        await session.scalars(
            select(AuditRecord)
            .where(AuditRecord.seq > head.seq)
            .order_by(AuditRecord.seq)
            .limit(limit)
        )
    ).all()
    if any(is_authentic(record, key) for record in past):
        # Genuine records past the head: the head was moved back. Touch nothing.
        log.error(
            "audit sealer stopped: sealed records lie past the chain head #%d (it was moved "
            "back); run `twotier audit verify`",
            head.seq,
        )
        return SealedBatch(0, 0)
    refused = list(past)
    rows = (
        await session.scalars(
            select(AuditRecord)
            .where(AuditRecord.seq.is_(None), AuditRecord.refused_at.is_(None))
            .order_by(AuditRecord.at, AuditRecord.id)
            .limit(limit)
        )
    ).all()
    seq, prev = head.seq, head.hash
    changes: list[dict[str, Any]] = []
    for record in rows:
        if not is_authentic(record, key):
            refused.append(record)
            continue
        assert record.content_hash is not None  # noqa: S101 — checked just above
        seq += 1
        link = chain_hash(seq, prev, record.content_hash, key=key)
        changes.append({"id": record.id, "seq": seq, "prev_hash": prev, "chain_hash": link})
        prev = link
    if refused and not await _key_holds(session, head, key):
        log.error(
            "audit sealer stopped: %d record(s) do not match their hash and neither does the "
            "newest sealed one; is TWOTIER_AUDIT_KEY the one records are written with?",
            len(refused),
        )
        return SealedBatch(0, 0)
    if refused:
        now = utcnow()
        for record in refused:
            record.seq, record.refused_at = None, now
        await session.flush()  # frees any number a forged row held before it is given out
        log.warning(
            "audit sealer refused %d record(s) whose content hash does not match: %s",
            len(refused),
            ", ".join(str(r.id) for r in refused),
        )
        await emails.forged_records(session, settings, refused)
    if changes:
        await session.execute(update(AuditRecord), changes)
        head.seq, head.hash, head.updated_at = seq, prev, utcnow()
    await session.flush()
    return SealedBatch(len(changes), len(refused))


async def seal(db: Database, settings: Settings) -> int:
    """Seal everything unsealed, one batch per transaction (the lock is held briefly);
    returns how many records were chained.

    With nothing to seal (most worker rounds) it only reads, and takes no write lock.
    """
    async with db.read_sessions() as session:
        unsealed = await session.scalar(
            select(AuditRecord.id)
            .where(AuditRecord.seq.is_(None), AuditRecord.refused_at.is_(None))
            .limit(1)
        )
    if unsealed is None:
        return 0
    total = 0
    while True:
        async with db.write_sessions() as session, session.begin():
            batch = await seal_batch(session, settings, settings.audit_seal_batch_size)
        total += batch.sealed
        if batch.examined < settings.audit_seal_batch_size:
            return total


@periodic("audit_seal")
async def _seal_periodically(db: Database, settings: Settings) -> None:
    await seal(db, settings)


ALTERED = "altered"
REMOVED = "removed"
INSERTED = "inserted"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the trail: which record(s), and what happened to them."""

    kind: str  # ALTERED, REMOVED or INSERTED
    where: str
    what: str
    records: int = 1  # how many records it covers (a removed run of records)
    record_id: uuid.UUID | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} — {self.what}"


def _at(seq: int, record_id: uuid.UUID | None = None) -> str:
    return f"record #{seq}" + (f" ({record_id})" if record_id else "")


def _removed(first: int, last: int, why: str) -> Problem:
    where = _at(first) if first == last else f"records #{first} to #{last}"
    return Problem(REMOVED, where, why, records=last - first + 1)


@dataclass(frozen=True)
class VerifyResult:
    checked: int  # sealed records that verify
    head_seq: int
    head_hash: str
    problems: int  # records altered, removed or inserted
    legacy: int = 0  # of ``checked``, sealed with unkeyed hashes (before keyed hashing)
    pending: int = 0  # authentic records not sealed yet
    # Every keyed record fails its content hash: more likely the wrong key than tampering.
    wrong_key: bool = False

    @property
    def ok(self) -> bool:
        return self.problems == 0


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


class _Findings:
    def __init__(self, report: Callable[[Problem], None] | None) -> None:
        self.report = report
        self.records = 0

    def add(self, problem: Problem) -> None:
        self.records += problem.records
        if self.report is not None:
            self.report(problem)


CONTENT_MISMATCH = "its content no longer matches its hash"


def _check_sealed(record: AuditRecord, key: bytes) -> tuple[list[str], str | None]:
    """What is wrong with a sealed record on its own, and the chain hash it should have."""
    assert record.seq is not None  # noqa: S101 — selected by seq
    if record.hash_version not in (LEGACY, KEYED):
        return [f"its hash version {record.hash_version} does not exist"], None
    version, reasons = record.hash_version, []
    content = hash_content(record_content(record), version=version, key=key)
    if not _same(content, record.content_hash):
        reasons.append(CONTENT_MISMATCH)
    link = chain_hash(
        record.seq, record.prev_hash or "", record.content_hash or "", version=version, key=key
    )
    if not _same(link, record.chain_hash):
        reasons.append("its chain hash is wrong")
    return reasons, link


async def verify(
    session: AsyncSession,
    key: bytes,
    *,
    report: Callable[[Problem], None] | None = None,
    page: int = 1000,
) -> VerifyResult:
    """Walk the chain from the start, then the records outside it; pass every record
    altered, removed or inserted to ``report`` as it is found (nothing is kept in memory).

    Read in one snapshot (``snapshot``) when the sealer may be running.
    """
    head = await session.get(AuditChainHead, HEAD_ID)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    found = _Findings(report)
    expected, links = 1, {GENESIS}
    checked = legacy = pending = keyed = keyed_bad = 0
    keyed_seen = False
    sealed = select(AuditRecord).where(AuditRecord.seq.is_not(None))
    async for record in _walk(session, sealed, [AuditRecord.seq], page):
        seq = record.seq
        assert seq is not None  # noqa: S101 — selected by seq
        if seq < 1 or seq > head_seq:
            place = "before the chain's start" if seq < 1 else f"past the chain head #{head_seq}"
            why = forgery(record, key)
            if why is None:  # a genuine record: the head was moved back
                what = f"{place}, though its hash holds (the chain head was altered)"
                found.add(Problem(ALTERED, _at(seq, record.id), what, record_id=record.id))
            else:
                what = f"{place}: {why}"
                found.add(Problem(INSERTED, _at(seq, record.id), what, record_id=record.id))
            continue
        gap = seq > expected
        if gap:
            found.add(_removed(expected, seq - 1, f"the chain jumps to #{seq}"))
        reasons, link = _check_sealed(record, key)
        if record.hash_version == KEYED:
            keyed += 1
            keyed_bad += CONTENT_MISMATCH in reasons
        elif keyed_seen:
            reasons.append("it has an unkeyed hash after keyed records (it was rewritten)")
        keyed_seen = keyed_seen or record.hash_version == KEYED
        # After a removal the previous record is unknown; its own hashes still hold it.
        if not gap and record.prev_hash not in links:
            reasons.append(f"its link to #{seq - 1} does not match (one of the two was rewritten)")
        if reasons:
            found.add(
                Problem(ALTERED, _at(seq, record.id), "; ".join(reasons), record_id=record.id)
            )
        else:
            checked += 1
            legacy += record.hash_version == LEGACY
        # The next record may link to the stored or the rightful hash: one edit, one record.
        links = {h for h in (record.chain_hash, link) if h is not None}
        expected = seq + 1
    last = expected - 1
    if head_seq > last:
        found.add(_removed(last + 1, head_seq, f"the chain head says #{head_seq}"))
    elif head_hash not in links:
        found.add(Problem(ALTERED, f"the chain head (#{head_seq})", "it does not match the chain"))

    outside = select(AuditRecord).where(AuditRecord.seq.is_(None))
    async for record in _walk(session, outside, [AuditRecord.at, AuditRecord.id], page):
        why = forgery(record, key)
        if record.hash_version == KEYED:
            keyed += 1
            keyed_bad += why is not None
        where = f"record {record.id} (not in the chain)"
        if record.refused_at is not None:
            when = f"refused by the sealer at {record.refused_at.isoformat(timespec='seconds')}"
            if why is None:
                what = f"{when}, though its hash matches (marked by hand, or with another key)"
                found.add(Problem(ALTERED, where, what, record_id=record.id))
            else:
                found.add(Problem(INSERTED, where, f"{when}: {why}", record_id=record.id))
        elif why is not None:
            what = f"{why} (the sealer will refuse it)"
            found.add(Problem(INSERTED, where, what, record_id=record.id))
        else:
            pending += 1
    return VerifyResult(
        checked,
        head_seq,
        head_hash,
        found.records,
        legacy=legacy,
        pending=pending,
        wrong_key=keyed > 0 and keyed_bad == keyed,
    )


@contextlib.asynccontextmanager
async def snapshot(db: Database) -> AsyncIterator[AsyncSession]:
    """A read session that sees one state of the trail throughout, though read in pages
    while the sealer works (SQLite's read transactions already do)."""
    async with db.snapshot_sessions() as session:
        if not db.is_sqlite:
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        yield session


async def chain_hash_at(session: AsyncSession, seq: int) -> str | None:
    return await session.scalar(select(AuditRecord.chain_hash).where(AuditRecord.seq == seq))


def export_line(record: AuditRecord) -> dict[str, Any]:
    """One JSON Lines row: the record's content and its place in the chain."""
    return record_content(record) | {
        "content_hash": record.content_hash,
        "hash_version": record.hash_version,
        "seq": record.seq,
        "prev_hash": record.prev_hash,
        "chain_hash": record.chain_hash,
        "refused_at": plain(record.refused_at),
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
