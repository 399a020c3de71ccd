"""The sealer: rows written into audit_records by hand are refused, kept out of the chain,
reported to the operators, and never take a genuine record's place."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from tests.audit.helpers import forged, sealed
from tests.factories import OPERATOR_PASSWORD, make_org
from twotier.audit.chain import Problem, seal, verify
from twotier.audit.models import AuditChainHead, AuditRecord
from twotier.audit.service import KEYED
from twotier.config import Settings
from twotier.directory.models import User
from twotier.kit.db import Database
from twotier.kit.email import EMAIL
from twotier.kit.outbox import OutboxMessage
from twotier.operator.service import create_operator

pytestmark = pytest.mark.committed

OPERATORS = ("ops-a@vendor.example", "ops-b@vendor.example")


async def add_operators(db: Database, *, inactive: str) -> None:
    async with db.write_sessions() as s, s.begin():
        for email in (*OPERATORS, inactive):
            await create_operator(s, email=email, password=OPERATOR_PASSWORD, name="Ops")
        await s.execute(update(User).where(User.email == inactive).values(is_active=False))


async def operator_emails(db: Database) -> list[dict[str, Any]]:
    async with db.read_sessions() as s:
        rows = await s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == EMAIL)
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
        return [m.payload for m in rows if m.payload["to"].endswith("@vendor.example")]


async def test_forged_rows_are_refused_and_the_operators_emailed_once_per_batch(
    committed_client: httpx.AsyncClient, committed_db: Database, settings: Settings
) -> None:
    await add_operators(committed_db, inactive="ops-gone@vendor.example")
    await make_org(committed_client)
    forgeries = [
        forged(),  # the plain SHA-256 of its content
        forged(content_hash=None),
        forged(hash_version=KEYED, content_hash="0" * 64),
    ]
    async with committed_db.write_sessions() as s, s.begin():
        s.add_all(forgeries)

    chained = await seal(committed_db, settings)
    records = await sealed(committed_db)
    assert chained == len(records) > 0
    assert {r.id for r in records}.isdisjoint(f.id for f in forgeries)
    async with committed_db.read_sessions() as s:
        kept_out = (
            await s.scalars(
                select(AuditRecord).where(AuditRecord.id.in_([f.id for f in forgeries]))
            )
        ).all()
    assert len(kept_out) == 3
    assert all(r.refused_at is not None and r.seq is None for r in kept_out)
    emails = await operator_emails(committed_db)
    assert sorted(m["to"] for m in emails) == list(OPERATORS)  # the inactive one: none
    assert emails[0]["subject"] == "twotier: 3 audit record(s) refused"
    assert all(str(f.id) in emails[0]["body"] for f in forgeries)
    assert "twotier audit verify" in emails[0]["body"]

    # Refused rows are not looked at again; genuine ones still get sealed.
    await make_org(committed_client)
    assert await seal(committed_db, settings) > 0
    assert len(await operator_emails(committed_db)) == 2


async def test_one_email_per_batch_that_found_forged_rows(
    committed_client: httpx.AsyncClient, committed_db: Database, settings: Settings
) -> None:
    await add_operators(committed_db, inactive="ops-gone@vendor.example")
    await make_org(committed_client)
    async with committed_db.write_sessions() as s, s.begin():
        s.add_all([forged() for _ in range(3)])
    # Everything is older than the forgeries: batches of 2 meet them in the last two.
    await seal(committed_db, settings.model_copy(update={"audit_seal_batch_size": 2}))
    emails = await operator_emails(committed_db)
    subjects = sorted({m["subject"] for m in emails})
    assert len(emails) == 2 * len(OPERATORS)
    assert subjects == ["twotier: 1 audit record(s) refused", "twotier: 2 audit record(s) refused"]


async def test_a_row_written_past_the_chain_head_is_refused_not_numbered(
    committed_client: httpx.AsyncClient, committed_db: Database, settings: Settings
) -> None:
    await make_org(committed_client)
    head = await seal(committed_db, settings)
    squatter = forged(seq=head + 1, prev_hash="0" * 64, chain_hash="0" * 64)
    async with committed_db.write_sessions() as s, s.begin():
        s.add(squatter)
    await make_org(committed_client)
    assert await seal(committed_db, settings) > 0
    records = await sealed(committed_db)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    assert squatter.id not in {r.id for r in records}
    found: list[Problem] = []
    async with committed_db.read_sessions() as s:
        refused = await s.get(AuditRecord, squatter.id)
        result = await verify(s, settings.audit_hash_key, report=found.append)
    assert refused is not None
    assert refused.refused_at is not None
    assert [(p.kind, p.record_id) for p in found] == [("inserted", squatter.id)]
    assert result.checked == len(records)


async def test_a_chain_head_moved_back_stops_the_sealer_and_is_named(
    committed_client: httpx.AsyncClient,
    committed_db: Database,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await make_org(committed_client)
    await seal(committed_db, settings)
    records = await sealed(committed_db)
    last, before = records[-1], records[-2]
    async with committed_db.write_sessions() as s, s.begin():
        await s.execute(update(AuditChainHead).values(seq=before.seq, hash=before.chain_hash))
    await make_org(committed_client)

    assert await seal(committed_db, settings) == 0  # genuine records are never renumbered
    assert "audit sealer stopped" in caplog.text
    assert [r.id for r in await sealed(committed_db)] == [r.id for r in records]
    found: list[Problem] = []
    async with committed_db.read_sessions() as s:
        result = await verify(s, settings.audit_hash_key, report=found.append)
    assert [str(p) for p in found] == [
        f"record #{last.seq} ({last.id}): altered — past the chain head #{before.seq}, "
        "though its hash holds (the chain head was altered)"
    ]
    assert result.pending > 0


async def test_a_sealer_with_another_key_refuses_nothing(
    committed_client: httpx.AsyncClient,
    committed_db: Database,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await add_operators(committed_db, inactive="ops-gone@vendor.example")
    await make_org(committed_client)
    assert await seal(committed_db, settings) > 0
    await make_org(committed_client)
    misconfigured = settings.model_copy(update={"audit_key": SecretStr("another key " * 4)})

    assert await seal(committed_db, misconfigured) == 0
    assert "is TWOTIER_AUDIT_KEY the one records are written with?" in caplog.text
    async with committed_db.read_sessions() as s:
        marked = await s.scalar(select(AuditRecord.id).where(AuditRecord.refused_at.is_not(None)))
    assert marked is None
    assert await operator_emails(committed_db) == []
    assert await seal(committed_db, settings) > 0  # the right key seals them all
