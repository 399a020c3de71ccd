"""The audit key: outside the database, never shown, and records sealed before it still
verify (as they are, and when the upgrade finds them waiting for the sealer)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from pydantic import SecretStr, ValidationError
from sqlalchemy import insert, select, text, update

from tests.audit.helpers import cli, forged, sealed
from tests.conftest import create_database, drop_database
from tests.factories import make_org
from twotier.app import create_app
from twotier.audit.chain import GENESIS, Problem, chain_hash, seal, verify
from twotier.audit.models import AuditChainHead, AuditRecord
from twotier.audit.service import (
    CONTENT_FIELDS,
    KEYED,
    LEGACY,
    hash_content,
    record_content,
    use_key,
)
from twotier.config import Settings
from twotier.kit import migrate
from twotier.kit.clock import utcnow
from twotier.kit.db import Database
from twotier.models import Base

AUDIT_KEY = "audit-key-7Qh2xk9LmP4vR8sT1wY6zB3nC5dF0gJ"
BEFORE_KEYED_HASHES = "c0a1e5e11a01"  # the revision before keyed audit hashes


def test_the_audit_key_is_never_shown_and_weak_keys_are_refused() -> None:
    settings = Settings(audit_key=AUDIT_KEY, _env_file=None)
    assert settings.audit_hash_key == AUDIT_KEY.encode()
    assert AUDIT_KEY not in repr(settings)
    assert AUDIT_KEY not in settings.model_dump_json()
    # Unset, it is derived from the secret key: its own value, and a new one per secret.
    derived = Settings(secret_key="s" * 40, _env_file=None)
    other = Settings(secret_key="t" * 40, _env_file=None)
    assert derived.audit_hash_key not in (b"s" * 40, other.audit_hash_key)
    assert len(derived.audit_hash_key) == 32

    with pytest.raises(ValidationError, match="TWOTIER_AUDIT_KEY is empty"):
        Settings(audit_key="", _env_file=None)
    weak = "short-audit-key-value"
    with pytest.raises(ValidationError, match="TWOTIER_AUDIT_KEY must be") as refused:
        Settings(
            env="production",
            secret_key="s" * 40,
            email_backend="smtp",
            audit_key=weak,
            _env_file=None,
        )
    assert weak not in str(refused.value)
    assert "s" * 40 not in str(refused.value)


@pytest.fixture
def keyed_settings(settings: Settings) -> Iterator[Settings]:
    yield settings.model_copy(update={"audit_key": SecretStr(AUDIT_KEY)})
    use_key(settings.audit_hash_key)  # the key every other test's app writes with


async def test_records_are_hashed_with_the_audit_key_which_is_stored_nowhere(
    keyed_settings: Settings, db: Database
) -> None:
    app = create_app(keyed_settings, db=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        await make_org(client)
    async with db.read_sessions() as session:
        records = (await session.scalars(select(AuditRecord))).all()
        assert records
        for record in records:
            canonical = json.dumps(
                record_content(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode()
            mac = hmac.new(AUDIT_KEY.encode(), canonical, hashlib.sha256).hexdigest()
            assert (record.hash_version, record.content_hash) == (KEYED, mac)
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                assert AUDIT_KEY not in str(tuple(row)), table.name


@pytest.mark.committed
async def test_verify_with_another_key_names_the_records_and_never_prints_a_key(
    committed_client: httpx.AsyncClient, committed_db: Database, database_url: str
) -> None:
    await make_org(committed_client)
    code, out, err = await cli(database_url, "audit", "verify")
    assert code == 0, err
    count = len(await sealed(committed_db))
    code, out, err = await cli(
        database_url, "audit", "verify", "--no-seal", env={"TWOTIER_AUDIT_KEY": AUDIT_KEY}
    )
    assert code == 1
    assert f"{count} record(s) altered, removed or inserted" in err
    assert "is TWOTIER_AUDIT_KEY" in err
    assert AUDIT_KEY not in out + err
    # A refused configuration names the setting, not its value (nor the secret key's).
    code, out, err = await cli(
        database_url,
        "audit",
        "verify",
        env={
            "TWOTIER_ENV": "production",
            "TWOTIER_SECRET_KEY": "s" * 40,
            "TWOTIER_EMAIL_BACKEND": "smtp",
            "TWOTIER_AUDIT_KEY": "short-audit-key-value",
        },
    )
    assert code == 2
    assert "TWOTIER_AUDIT_KEY must be" in err
    assert "short-audit-key-value" not in out + err
    assert "s" * 40 not in out + err


@pytest.mark.committed
async def test_records_sealed_before_keyed_hashing_still_verify(
    committed_client: httpx.AsyncClient, committed_db: Database, settings: Settings
) -> None:
    # Three records as the unkeyed sealer left them: plain SHA-256 hashes throughout.
    prev = GENESIS
    old = [forged(seq=seq) for seq in (1, 2, 3)]
    for record in old:
        assert record.content_hash is not None
        assert record.seq is not None
        record.prev_hash = prev
        record.chain_hash = prev = chain_hash(
            record.seq, prev, record.content_hash, version=LEGACY, key=b""
        )
    async with committed_db.write_sessions() as s, s.begin():
        s.add_all(old)
        await s.merge(AuditChainHead(id=1, seq=3, hash=prev, updated_at=utcnow()))
    await make_org(committed_client)
    assert await seal(committed_db, settings) > 0
    records = await sealed(committed_db)
    assert [r.hash_version for r in records[:4]] == [LEGACY] * 3 + [KEYED]
    async with committed_db.read_sessions() as s:
        result = await verify(s, settings.audit_hash_key)
    assert result.ok, result
    assert (result.checked, result.legacy) == (len(records), 3)

    # An unkeyed record after keyed ones was rewritten.
    last = records[-1]
    assert last.seq is not None
    assert last.prev_hash is not None
    content = hash_content(record_content(last), version=LEGACY, key=b"")
    link = chain_hash(last.seq, last.prev_hash, content, version=LEGACY, key=b"")
    async with committed_db.write_sessions() as s, s.begin():
        await s.execute(
            update(AuditRecord)
            .where(AuditRecord.id == last.id)
            .values(hash_version=LEGACY, content_hash=content, chain_hash=link)
        )
        await s.execute(update(AuditChainHead).values(hash=link))
    found: list[Problem] = []
    async with committed_db.read_sessions() as s:
        result = await verify(s, settings.audit_hash_key, report=found.append)
    assert [(p.record_id, p.what) for p in found] == [
        (last.id, "it has an unkeyed hash after keyed records (it was rewritten)")
    ]


async def _write_as_before(url: str) -> list[AuditRecord]:
    """Two records sealed and three waiting, as the unkeyed code left them (the last one
    without a content hash, which that code never wrote)."""
    records = [forged() for _ in range(4)] + [forged(content_hash=None)]
    prev = GENESIS
    db = Database(url)
    try:
        async with db.write_sessions() as s, s.begin():
            for seq, record in enumerate(records, start=1):
                row = {name: getattr(record, name) for name in CONTENT_FIELDS}
                row["content_hash"] = record.content_hash
                if seq <= 2:
                    assert record.content_hash is not None
                    link = chain_hash(seq, prev, record.content_hash, version=LEGACY, key=b"")
                    row |= {"seq": seq, "prev_hash": prev, "chain_hash": link}
                    prev = link
                # Only the columns that schema had (hash_version and refused_at came later).
                await s.execute(insert(AuditRecord.__table__).values(row))  # type: ignore[arg-type]
            await s.execute(text("UPDATE audit_chain_head SET seq = 2, hash = :h"), {"h": prev})
    finally:
        await db.dispose()
    return records


async def _verify_then_seal(url: str, settings: Settings) -> tuple[int, list[Problem], bool]:
    found: list[Problem] = []
    db = Database(url)
    try:
        async with db.read_sessions() as s:
            result = await verify(s, settings.audit_hash_key, report=found.append)
        await seal(db, settings)
        async with db.read_sessions() as s:
            unmarked = await s.scalar(
                select(AuditRecord.id).where(
                    AuditRecord.seq.is_(None), AuditRecord.refused_at.is_(None)
                )
            )
    finally:
        await db.dispose()
    return result.checked, found, unmarked is None


def test_the_upgrade_seals_what_the_unkeyed_sealer_left_waiting(
    pg_base_url: str | None, tmp_path: Path, settings: Settings
) -> None:
    url = asyncio.run(create_database(pg_base_url, tmp_path))
    try:
        command.downgrade(migrate.alembic_config(url), BEFORE_KEYED_HASHES)
        records = asyncio.run(_write_as_before(url))
        migrate.upgrade(url)
        checked, found, all_marked = asyncio.run(_verify_then_seal(url, settings))
    finally:
        asyncio.run(drop_database(url, pg_base_url))
    assert checked == 4  # two sealed before, two sealed by the upgrade: all unkeyed
    assert [(p.kind, p.record_id) for p in found] == [("inserted", records[-1].id)]
    assert "it has no content hash" in found[0].what
    assert all_marked  # the sealer refused the one without a hash
