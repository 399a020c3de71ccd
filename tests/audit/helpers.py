"""Running `twotier audit ...` against the test database, and writing to it by hand."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from twotier.audit.models import AuditRecord
from twotier.audit.service import LEGACY, content_of, hash_content
from twotier.kit.clock import utcnow
from twotier.kit.db import Database

TWOTIER = str(Path(sys.executable).with_name("twotier"))


async def cli(url: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TWOTIER_")}
    full_env |= {"TWOTIER_DATABASE_URL": url, "TWOTIER_ENV": "test"} | (env or {})
    process = await asyncio.create_subprocess_exec(
        TWOTIER,
        *args,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def sealed(db: Database) -> list[AuditRecord]:
    """The records in the chain, in its order."""
    async with db.read_sessions() as session:
        rows = await session.scalars(
            select(AuditRecord).where(AuditRecord.seq.is_not(None)).order_by(AuditRecord.seq)
        )
        return list(rows.all())


def columns(record: AuditRecord) -> dict[str, Any]:
    return {c.key: getattr(record, c.key) for c in AuditRecord.__table__.columns}


def forged(**overrides: Any) -> AuditRecord:
    """A record as someone writing the database would insert it: plausible content, and
    the plain SHA-256 of it (the one hash that needs no key)."""
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "at": utcnow(),
        "operation": "partner_account_approved",
        "actor_user_id": uuid.uuid4(),
        "actor_tenant_id": uuid.uuid4(),
        "actor_partner_id": None,
        "subject_tenant_id": None,
        "on_behalf_of_customer_id": None,
        "resource_type": "partner_account",
        "resource_id": str(uuid.uuid4()),
        "request_id": None,
        "detail": {},
    }
    fields |= {k: v for k, v in overrides.items() if k in fields}
    extra = {k: v for k, v in overrides.items() if k not in fields}
    content_hash = hash_content(content_of(fields), version=LEGACY, key=b"")
    return AuditRecord(**fields, **({"content_hash": content_hash, "hash_version": LEGACY} | extra))
