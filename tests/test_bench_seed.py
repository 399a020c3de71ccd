"""`twotier bench seed`'s world is one the application serves as if its services had made
it: the sample principals sign in with their tokens and the hot reads answer with the
seeded customers, grants and subscriptions, on SQLite (executemany) and PostgreSQL (COPY)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import create_database, drop_database
from twotier.app import create_app
from twotier.config import Settings
from twotier.demo.bulk import seed
from twotier.kit.db import Database


@pytest.fixture
async def empty_db(pg_base_url: str | None, tmp_path: Path) -> AsyncIterator[Database]:
    url = await create_database(pg_base_url, tmp_path)
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()
        await drop_database(url, pg_base_url)


async def test_the_seeded_channel_answers_the_hot_reads(empty_db: Database) -> None:
    world = await seed(empty_db, customers=60, resellers=5, providers=2, big=30, small=4)
    settings = Settings(database_url=empty_db.url, outbox_in_process=False, _env_file=None)
    app = create_app(settings, db=empty_db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench"
    ) as client:
        for sample, count in ((world.big, 30), (world.small, 4)):
            auth = {"Authorization": f"Bearer {sample.reseller_token}"}
            page = (await client.get("/api/v1/customers?limit=100", headers=auth)).json()
            assert len(page["items"]) == count == sample.customers
            assert {c["relationship"]["kind"] for c in page["items"]} == {"two_tier"}
            found = await client.get(f"/api/v1/customers?q={sample.q}", headers=auth)
            assert found.json()["items"]  # the sample's prefix finds some of its customers
            record = await client.get(f"/api/v1/customers/{sample.customer_id}", headers=auth)
            assert record.status_code == 200
            assert [g["status"] for g in record.json()["access"]] == ["active"]
            subs = await client.get(
                f"/api/v1/customers/{sample.customer_id}/subscriptions", headers=auth
            )
            assert len(subs.json()["items"]) == 5
            customer = {"Authorization": f"Bearer {sample.customer_token}"}
            me = (await client.get("/api/v1/me", headers=customer)).json()
            assert me["tenant"]["id"] == sample.customer_id
        provider = {"Authorization": f"Bearer {world.provider_token}"}
        shared = await client.get(
            f"/api/v1/indirect-resellers/{world.big.reseller_account_id}/customers?limit=100",
            headers=provider,
        )
        assert len(shared.json()["items"]) == 30
        # Another reseller's sample customer is not the big one's.
        other = await client.get(
            f"/api/v1/customers/{world.small.customer_id}",
            headers={"Authorization": f"Bearer {world.big.reseller_token}"},
        )
        assert other.status_code == 404
