"""The audit hash chain: sealed in batches, verified by `twotier audit verify`, exported."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update

from tests.factories import make_org, sign_in
from twotier.audit.chain import (
    GENESIS,
    chain_hash,
    content_of,
    export,
    hash_content,
    record_content,
    seal,
    verify,
)
from twotier.audit.models import AuditChainHead, AuditRecord
from twotier.config import Settings
from twotier.kit.db import Database

TWOTIER = str(Path(sys.executable).with_name("twotier"))

pytestmark = pytest.mark.committed


async def cli(url: str, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOTIER_")}
    env |= {"TWOTIER_DATABASE_URL": url, "TWOTIER_ENV": "test"}
    process = await asyncio.create_subprocess_exec(
        TWOTIER,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def sealed(db: Database) -> list[AuditRecord]:
    async with db.read_sessions() as session:
        rows = await session.scalars(select(AuditRecord).order_by(AuditRecord.seq))
        return list(rows.all())


async def test_verify_catches_an_edited_and_a_deleted_record(
    committed_client: httpx.AsyncClient, committed_db: Database, database_url: str
) -> None:
    for _ in range(2):
        await make_org(committed_client)
    code, out, err = await cli(database_url, "audit", "verify")
    assert code == 0, err
    records = await sealed(committed_db)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    assert len(records) >= 4
    assert f"{len(records)} record(s)" in out
    second, third, last = records[1], records[2], records[-1]

    # An edit of the content.
    async with committed_db.write_sessions() as s, s.begin():
        await s.execute(
            update(AuditRecord).where(AuditRecord.id == second.id).values(detail={"x": 1})
        )
    code, _out, err = await cli(database_url, "audit", "verify")
    assert code == 1
    assert f"record #2 ({second.id})" in err
    assert "altered" in err

    # The same edit with the content hash recomputed: the chain still shows it.
    edited = record_content(second) | {"detail": {"x": 1}}
    async with committed_db.write_sessions() as s, s.begin():
        await s.execute(
            update(AuditRecord)
            .where(AuditRecord.id == second.id)
            .values(content_hash=hash_content(edited))
        )
    code, _out, err = await cli(database_url, "audit", "verify")
    assert code == 1
    assert f"record #2 ({second.id})" in err

    # Put it back: the chain verifies again.
    async with committed_db.write_sessions() as s, s.begin():
        await s.execute(
            update(AuditRecord)
            .where(AuditRecord.id == second.id)
            .values(detail=second.detail, content_hash=second.content_hash)
        )
    code, out, err = await cli(database_url, "audit", "verify")
    assert code == 0, err
    anchor = out.strip().rsplit(" ", 1)[1]

    # A removal in the middle...
    async with committed_db.write_sessions() as s, s.begin():
        await s.execute(delete(AuditRecord).where(AuditRecord.id == third.id))
    code, _out, err = await cli(database_url, "audit", "verify", "--no-seal")
    assert code == 1
    assert "record #3 was removed" in err

    # ...and at the end (the head remembers it).
    async with committed_db.write_sessions() as s, s.begin():
        s.add(AuditRecord(**_columns(third)))
        await s.execute(delete(AuditRecord).where(AuditRecord.id == last.id))
    code, _out, err = await cli(database_url, "audit", "verify", "--no-seal")
    assert code == 1
    assert f"record #{last.seq} was removed" in err
    assert "the chain head says" in err

    # Put back, the chain matches the anchor kept elsewhere.
    async with committed_db.write_sessions() as s, s.begin():
        s.add(AuditRecord(**_columns(last)))
    code, _out, err = await cli(database_url, "audit", "verify", "--expect", anchor)
    assert code == 0, err


def _columns(record: AuditRecord) -> dict[str, Any]:
    return {c.key: getattr(record, c.key) for c in AuditRecord.__table__.columns}


async def test_a_chain_rewritten_end_to_end_fails_the_anchor(
    committed_client: httpx.AsyncClient, committed_db: Database, database_url: str
) -> None:
    await make_org(committed_client)
    code, out, _err = await cli(database_url, "audit", "verify")
    assert code == 0
    anchor = out.strip().rsplit(" ", 1)[1]
    # Whoever can write the database edits record #1 and recomputes every hash after it.
    records = await sealed(committed_db)
    prev = GENESIS
    async with committed_db.write_sessions() as s, s.begin():
        for record in records:
            detail = {"rewritten": True} if record.seq == 1 else record.detail
            content = hash_content(record_content(record) | {"detail": detail})
            assert record.seq is not None
            link = chain_hash(record.seq, prev, content)
            await s.execute(
                update(AuditRecord)
                .where(AuditRecord.id == record.id)
                .values(detail=detail, content_hash=content, prev_hash=prev, chain_hash=link)
            )
            prev = link
        await s.execute(update(AuditChainHead).values(hash=prev))
    code, _out, _err = await cli(database_url, "audit", "verify", "--no-seal")
    assert code == 0  # the chain alone cannot tell...
    code, _out, err = await cli(database_url, "audit", "verify", "--expect", anchor, "--no-seal")
    assert code == 1  # ...the anchor kept elsewhere can
    assert "does not match the anchor" in err


async def test_export_writes_json_lines_for_the_window(
    committed_client: httpx.AsyncClient,
    committed_db: Database,
    database_url: str,
    tmp_path: Path,
) -> None:
    await make_org(committed_client)
    await make_org(committed_client)
    records = await sealed(committed_db)
    start = records[1].at.isoformat()
    end = records[-1].at.isoformat()
    target = tmp_path / "audit.jsonl"
    code, _out, err = await cli(
        database_url, "audit", "export", "--since", start, "--until", end, "--output", str(target)
    )
    assert code == 0, err
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    in_window = [r for r in records if records[1].at <= r.at < records[-1].at]
    assert [line["id"] for line in lines] == [str(r.id) for r in in_window]
    assert {"operation", "actor_user_id", "content_hash", "at"} <= set(lines[0])
    code, out, _err = await cli(database_url, "audit", "export")
    assert len(out.splitlines()) == len(records)


async def test_concurrent_writers_and_sealers_keep_one_unbroken_chain(
    committed_client: httpx.AsyncClient, committed_db: Database, settings: Settings
) -> None:
    org = await make_org(committed_client)
    await asyncio.gather(
        *(sign_in(committed_client, org.email) for _ in range(8)),
        *(seal(committed_db, settings) for _ in range(3)),
    )
    await seal(committed_db, settings)
    async with committed_db.read_sessions() as session:
        result = await verify(session)
    assert result.ok, result.problem
    assert result.checked == len(await sealed(committed_db)) >= 10


def test_the_content_hash_input_is_stable() -> None:
    """A record's content hashes as it always has (else every sealed chain breaks)."""
    fields = {
        "id": uuid.UUID("00000000-0000-4000-8000-000000000001"),
        "at": datetime(2026, 11, 24, 9, 30, 15, 123456, tzinfo=UTC),
        "operation": "user_created",
        "actor_user_id": uuid.UUID("00000000-0000-4000-8000-000000000002"),
        "actor_tenant_id": uuid.UUID("00000000-0000-4000-8000-000000000003"),
        "actor_partner_id": "1234567",
        "subject_tenant_id": None,
        "on_behalf_of_customer_id": None,
        "resource_type": "user",
        "resource_id": "00000000-0000-4000-8000-000000000004",
        "request_id": None,
        "detail": {"email": "zoë@contoso.example", "roles": ["user"]},
    }
    assert hash_content(content_of(fields)) == (
        "67eb2553529627a46111e1a1bd86b40c8ed8c226f787ae611c182ca6702f0ca1"
    )
    assert record_content(AuditRecord(**fields)) == content_of(fields)


async def test_sealing_nothing_takes_no_write_lock(
    committed_client: httpx.AsyncClient,
    committed_db: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await make_org(committed_client)
    assert await seal(committed_db, settings) > 0

    def no_writing() -> None:
        raise AssertionError("opened a write session with nothing to seal")

    with monkeypatch.context() as patched:
        patched.setattr(committed_db, "write_sessions", no_writing)
        assert await seal(committed_db, settings) == 0
    await make_org(committed_client)
    assert await seal(committed_db, settings) > 0


async def test_verify_and_export_read_every_record_across_pages(
    committed_client: httpx.AsyncClient, committed_db: Database, settings: Settings
) -> None:
    for _ in range(3):
        await make_org(committed_client)
    await seal(committed_db, settings.model_copy(update={"audit_seal_batch_size": 2}))
    records = await sealed(committed_db)
    assert len(records) >= 6
    async with committed_db.read_sessions() as session:
        result = await verify(session)
        small = [line async for line in export(session, None, None, page=2)]
        whole = [line async for line in export(session, None, None)]
    assert result.ok, result.problem
    assert result.checked == len(records)
    assert small == whole
    assert [line["seq"] for line in small] == [r.seq for r in records]
