"""The audit hash chain: sealed in batches, verified by `twotier audit verify`, exported."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, event, update

from tests.audit.helpers import cli, columns, forged, sealed
from tests.factories import make_org, sign_in
from twotier.audit.chain import GENESIS, Problem, chain_hash, export, seal, verify
from twotier.audit.models import AuditChainHead, AuditRecord
from twotier.audit.service import KEYED, LEGACY, content_of, hash_content, record_content
from twotier.config import Settings
from twotier.kit.db import Database

pytestmark = pytest.mark.committed


async def test_verify_names_an_edited_a_deleted_and_a_forged_record(
    committed_client: httpx.AsyncClient, committed_db: Database, database_url: str
) -> None:
    for _ in range(3):
        await make_org(committed_client)
    code, out, err = await cli(database_url, "audit", "verify")
    assert code == 0, err
    records = await sealed(committed_db)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    assert len(records) >= 6
    assert f"{len(records)} record(s)" in out
    edited, removed, forgery = records[1], records[3], forged()

    async with committed_db.write_sessions() as s, s.begin():
        await s.execute(
            update(AuditRecord).where(AuditRecord.id == edited.id).values(detail={"x": 1})
        )
        await s.execute(delete(AuditRecord).where(AuditRecord.id == removed.id))
        s.add(forgery)
    code, out, err = await cli(database_url, "audit", "verify")
    assert code == 1
    listing = [line.strip() for line in err.splitlines() if line.startswith("  ")]
    assert listing[:2] == [
        f"record #2 ({edited.id}): altered — its content no longer matches its hash",
        "record #4: removed — the chain jumps to #5",
    ]
    assert listing[2].startswith(
        f"record {forgery.id} (not in the chain): inserted — refused by the sealer at "
    )
    assert len(listing) == 3
    assert "3 record(s) altered, removed or inserted" in err
    assert f"{len(records) - 2} sealed record(s) verify" in err
    assert "Audit chain verified" not in out
    async with committed_db.read_sessions() as s:
        kept_out = await s.get(AuditRecord, forgery.id)
    assert kept_out is not None
    assert kept_out.refused_at is not None
    assert kept_out.seq is None

    # Put back the edit and the removal, take out the forgery: the trail verifies again.
    async with committed_db.write_sessions() as s, s.begin():
        await s.execute(
            update(AuditRecord).where(AuditRecord.id == edited.id).values(detail=edited.detail)
        )
        s.add(AuditRecord(**columns(removed)))
        await s.execute(delete(AuditRecord).where(AuditRecord.id == forgery.id))
    code, out, err = await cli(database_url, "audit", "verify")
    assert code == 0, err
    assert f"{len(records)} record(s)" in out


async def test_an_edit_rehashed_without_the_key_is_still_named(
    committed_client: httpx.AsyncClient, committed_db: Database, database_url: str
) -> None:
    await make_org(committed_client)
    await make_org(committed_client)
    code, _out, err = await cli(database_url, "audit", "verify")
    assert code == 0, err
    second = (await sealed(committed_db))[1]
    # The only hashes a database writer can compute: unkeyed ones.
    edited = record_content(second) | {"detail": {"x": 1}}
    content = hash_content(edited, version=LEGACY, key=b"")
    assert second.prev_hash is not None
    link = chain_hash(2, second.prev_hash, content, version=LEGACY, key=b"")
    async with committed_db.write_sessions() as s, s.begin():
        await s.execute(
            update(AuditRecord)
            .where(AuditRecord.id == second.id)
            .values(detail={"x": 1}, content_hash=content, chain_hash=link, hash_version=LEGACY)
        )
    code, _out, err = await cli(database_url, "audit", "verify", "--no-seal")
    assert code == 1
    assert f"record #2 ({second.id}): altered — it has an unkeyed hash after keyed records" in err
    assert "its link to #2 does not match" in err
    assert "2 record(s) altered, removed or inserted" in err


async def test_records_cut_off_the_end_are_named_until_the_head_is_moved_back(
    committed_client: httpx.AsyncClient, committed_db: Database, database_url: str
) -> None:
    await make_org(committed_client)
    code, out, err = await cli(database_url, "audit", "verify")
    assert code == 0, err
    anchor = out.strip().rsplit(" ", 1)[1]
    records = await sealed(committed_db)
    last, before = records[-1], records[-2]
    async with committed_db.write_sessions() as s, s.begin():
        await s.execute(delete(AuditRecord).where(AuditRecord.id == last.id))
    code, _out, err = await cli(database_url, "audit", "verify", "--no-seal")
    assert code == 1
    assert f"record #{last.seq}: removed — the chain head says #{last.seq}" in err

    # Move the head back as well: the chain alone cannot tell, the anchor kept elsewhere can.
    async with committed_db.write_sessions() as s, s.begin():
        await s.execute(update(AuditChainHead).values(seq=before.seq, hash=before.chain_hash))
    code, _out, err = await cli(database_url, "audit", "verify", "--no-seal")
    assert code == 0, err
    code, _out, err = await cli(database_url, "audit", "verify", "--expect", anchor, "--no-seal")
    assert code == 1
    assert "does not match the anchor" in err


async def test_a_chain_rewritten_end_to_end_needs_the_key_or_fails_the_anchor(
    committed_client: httpx.AsyncClient, committed_db: Database, database_url: str
) -> None:
    await make_org(committed_client)
    code, out, _err = await cli(database_url, "audit", "verify")
    assert code == 0
    anchor = out.strip().rsplit(" ", 1)[1]
    records = await sealed(committed_db)

    async def rewrite(version: int, key: bytes) -> None:
        """Edit record #1 and recompute every hash after it, as a database writer would."""
        prev = GENESIS
        async with committed_db.write_sessions() as s, s.begin():
            for record in records:
                assert record.seq is not None
                detail = {"rewritten": True} if record.seq == 1 else record.detail
                content = record_content(record) | {"detail": detail}
                content_hash = hash_content(content, version=version, key=key)
                link = chain_hash(record.seq, prev, content_hash, version=version, key=key)
                await s.execute(
                    update(AuditRecord)
                    .where(AuditRecord.id == record.id)
                    .values(
                        detail=detail,
                        content_hash=content_hash,
                        prev_hash=prev,
                        chain_hash=link,
                        hash_version=version,
                    )
                )
                prev = link
            await s.execute(update(AuditChainHead).values(hash=prev))

    # With a guessed key, every record is named.
    await rewrite(KEYED, b"a guess")
    code, _out, err = await cli(database_url, "audit", "verify", "--no-seal")
    assert code == 1
    assert f"{len(records)} record(s) altered, removed or inserted" in err
    assert "No keyed record matches its hash" in err

    # Rewritten as if sealed before keyed hashing, the chain holds together...
    await rewrite(LEGACY, b"")
    code, out, _err = await cli(database_url, "audit", "verify", "--no-seal")
    assert code == 0
    assert f"{len(records)} of them sealed before keyed hashing" in out
    # ...and the anchor kept elsewhere tells.
    code, _out, err = await cli(database_url, "audit", "verify", "--expect", anchor, "--no-seal")
    assert code == 1
    assert "does not match the anchor" in err


async def test_export_writes_json_lines_for_the_window(
    committed_client: httpx.AsyncClient,
    committed_db: Database,
    settings: Settings,
    database_url: str,
    tmp_path: Path,
) -> None:
    await make_org(committed_client)
    await make_org(committed_client)
    await seal(committed_db, settings)
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
    assert {"operation", "actor_user_id", "content_hash", "hash_version", "at"} <= set(lines[0])
    assert {line["hash_version"] for line in lines} == {KEYED}
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
        result = await verify(session, settings.audit_hash_key)
    assert result.ok, result
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
    assert hash_content(content_of(fields), version=LEGACY, key=b"") == (
        "67eb2553529627a46111e1a1bd86b40c8ed8c226f787ae611c182ca6702f0ca1"
    )
    assert hash_content(content_of(fields), key=b"k" * 32) == (
        "812456a7111cebeb33137cfb19e7e672825c6118fb4962bfa3da3e26325ac93b"
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


async def test_verify_and_export_read_every_record_in_pages(
    committed_client: httpx.AsyncClient, committed_db: Database, settings: Settings
) -> None:
    for _ in range(3):
        await make_org(committed_client)
    await seal(committed_db, settings.model_copy(update={"audit_seal_batch_size": 2}))
    records = await sealed(committed_db)
    assert len(records) >= 6
    reads: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM audit_records" in statement:
            reads.append(statement)

    event.listen(committed_db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with committed_db.read_sessions() as session:
            result = await verify(session, settings.audit_hash_key, page=2)
    finally:
        event.remove(committed_db.engine.sync_engine, "before_cursor_execute", count)
    assert result.ok, result
    assert result.checked == len(records)
    # Two records a read, then one read for the (no) records outside the chain.
    assert len(reads) == (len(records) + 1) // 2 + 1
    async with committed_db.read_sessions() as session:
        small = [line async for line in export(session, None, None, page=2)]
        whole = [line async for line in export(session, None, None)]
    assert small == whole
    assert [line["seq"] for line in small] == [r.seq for r in records]


async def test_verify_reports_each_problem_as_it_finds_it(
    committed_client: httpx.AsyncClient, committed_db: Database, settings: Settings
) -> None:
    for _ in range(2):
        await make_org(committed_client)
    await seal(committed_db, settings)
    records = await sealed(committed_db)
    altered = records[::2]
    async with committed_db.write_sessions() as s, s.begin():
        for record in altered:
            await s.execute(
                update(AuditRecord).where(AuditRecord.id == record.id).values(detail={"x": 1})
            )
    found: list[Problem] = []
    async with committed_db.read_sessions() as session:
        result = await verify(session, settings.audit_hash_key, report=found.append, page=2)
    assert [p.record_id for p in found] == [r.id for r in altered]
    assert {p.kind for p in found} == {"altered"}
    assert result.problems == len(altered)
    assert result.checked == len(records) - len(altered)
    assert not result.ok
