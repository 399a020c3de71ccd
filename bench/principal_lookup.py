"""How long resolving a bearer token takes as the token table grows.

Usage: python bench/principal_lookup.py [DATABASE_URL]
(default: a temporary SQLite file). The lookup is one indexed query, so its cost should
stay flat from 1,000 to 100,000 tokens.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from twotier.directory.auth import principal_for_token
from twotier.directory.models import AccessToken, Tenant, TokenKind, User
from twotier.kit import migrate
from twotier.kit.clock import utcnow
from twotier.kit.db import Database
from twotier.kit.security import new_token, token_hash

LOOKUPS = 2000


async def fill(db: Database, user_id: uuid.UUID, count: int) -> list[str]:
    tokens = [new_token() for _ in range(count)]
    expires = utcnow() + timedelta(hours=1)
    async with db.write_sessions() as session, session.begin():
        for start in range(0, count, 5000):
            await session.execute(
                insert(AccessToken),
                [
                    {
                        "id": uuid.uuid4(),
                        "token_hash": token_hash(t),
                        "user_id": user_id,
                        "kind": TokenKind.api,
                        "created_at": utcnow(),
                        "expires_at": expires,
                    }
                    for t in tokens[start : start + 5000]
                ],
            )
    return tokens


async def main(url: str) -> None:
    db = Database(url)
    tenant_id, user_id = uuid.uuid4(), uuid.uuid4()
    async with db.write_sessions() as session, session.begin():
        session.add(
            Tenant(
                id=tenant_id, display_name="Bench", domain=f"{tenant_id.hex}.example", country="TW"
            )
        )
        await session.flush()
        session.add(
            User(
                id=user_id,
                tenant_id=tenant_id,
                email=f"{user_id.hex}@bench.example",
                display_name="Bench",
                password_hash="x",
                roles=["global_admin"],
            )
        )
    held: list[str] = []
    print(f"{'tokens':>8}  {'lookups/s':>10}  {'µs/lookup':>10}")
    for total in (1_000, 10_000, 100_000):
        held += await fill(db, user_id, total - len(held))
        sample = held[:: max(1, len(held) // LOOKUPS)][:LOOKUPS]
        async with db.read_sessions() as session:
            started = time.perf_counter()
            for token in sample:
                assert await principal_for_token(session, token, TokenKind.api) is not None
            elapsed = time.perf_counter() - started
        print(f"{total:>8}  {len(sample) / elapsed:>10.0f}  {elapsed / len(sample) * 1e6:>10.0f}")
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
