"""Do audit records serialise unrelated requests? Throughput of concurrent "requests" that
each write one audit record, with twotier's design and with chaining at write time.

Usage: python bench/audit_write.py [DATABASE_URL]
(default: a temporary SQLite file; give a PostgreSQL URL for the interesting numbers —
SQLite has one writer at a time whatever the design).

Each request is a transaction that does some other work (``WORK_MS`` of sleeping, standing
for its other queries), writes its audit record, does a little more, and commits.

- ``content hash``: twotier's ``audit.record`` — an insert carrying the content's hash; the
  chain is built later by the sealer. Nothing shared is locked.
- ``chain at write``: the naive alternative — lock the chain head, link the record to it,
  move the head — so the head's row lock is held until commit and requests queue on it.

Then the sealer's own rate: how fast it chains what the requests wrote.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import delete, func, select

from twotier.audit import service as audit
from twotier.audit.chain import chain_hash, seal, verify
from twotier.audit.models import AuditChainHead, AuditRecord
from twotier.audit.service import hash_content, record_content, use_key, write_key
from twotier.config import Settings
from twotier.kit import migrate
from twotier.kit.clock import utcnow
from twotier.kit.db import Database

REQUESTS = 400
WORK_MS = 5.0


async def content_hash_request(db: Database, n: int) -> None:
    async with db.write_sessions() as session, session.begin():
        await asyncio.sleep(WORK_MS / 2000)
        audit.record(
            session,
            operation="bench_request",
            resource_type="bench",
            resource_id=str(n),
            actor_user_id=uuid.uuid4(),
            actor_tenant_id=uuid.uuid4(),
            detail={"n": n},
        )
        await session.flush()
        await asyncio.sleep(WORK_MS / 2000)


async def chain_at_write_request(db: Database, n: int) -> None:
    async with db.write_sessions() as session, session.begin():
        await asyncio.sleep(WORK_MS / 2000)
        entry = audit.record(
            session,
            operation="bench_request",
            resource_type="bench",
            resource_id=str(n),
            actor_user_id=uuid.uuid4(),
            actor_tenant_id=uuid.uuid4(),
            detail={"n": n},
        )
        head = await session.scalar(
            select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update()
        )
        assert head is not None
        entry.seq = head.seq + 1
        entry.prev_hash = head.hash
        key = write_key()
        content = hash_content(record_content(entry), key=key)
        entry.chain_hash = chain_hash(entry.seq, head.hash, content, key=key)
        head.seq, head.hash, head.updated_at = entry.seq, entry.chain_hash, utcnow()
        await session.flush()
        await asyncio.sleep(WORK_MS / 2000)


async def reset(db: Database) -> None:
    async with db.write_sessions() as session, session.begin():
        await session.execute(delete(AuditRecord))
        await session.execute(delete(AuditChainHead))
        session.add(AuditChainHead(id=1, seq=0, hash="0" * 64, updated_at=utcnow()))


async def run_design(db: Database, design: str, concurrency: int) -> float:
    request = content_hash_request if design == "content hash" else chain_at_write_request
    await reset(db)
    queue = iter(range(REQUESTS))
    lock = asyncio.Lock()

    async def worker() -> None:
        while True:
            async with lock:
                n = next(queue, None)
            if n is None:
                return
            await request(db, n)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    async with db.read_sessions() as session:
        written = await session.scalar(select(func.count()).select_from(AuditRecord))
    assert written == REQUESTS, written
    return REQUESTS / elapsed


async def main(url: str) -> None:
    db = Database(url)
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    use_key(settings.audit_hash_key)
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"{backend}: {REQUESTS} requests, each {WORK_MS:.0f} ms of other work in its transaction")
    print(f"{'design':<16} {'concurrency':>11} {'requests/s':>11} {'vs 1':>6}")
    for design in ("content hash", "chain at write"):
        base = None
        for concurrency in (1, 8, 32):
            rate = await run_design(db, design, concurrency)
            base = base or rate
            print(f"{design:<16} {concurrency:>11} {rate:>11.0f} {rate / base:>5.1f}x")
    # The sealer on what the last content-hash run would leave: REQUESTS unsealed records.
    await run_design(db, "content hash", 8)
    started = time.perf_counter()
    sealed = await seal(db, settings)
    elapsed = time.perf_counter() - started
    async with db.read_sessions() as session:
        ok = (await verify(session, settings.audit_hash_key)).ok
    print(
        f"sealer: {sealed} records in {elapsed * 1000:.0f} ms "
        f"({sealed / elapsed:.0f} records/s, batches of {settings.audit_seal_batch_size}); "
        f"chain verifies: {ok}"
    )
    await reset(db)
    await db.dispose()


def run(url: str) -> None:
    migrate.upgrade(url)
    asyncio.run(main(url))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        run(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
