"""Idempotency-Key: replay, reuse with another body, and concurrent duplicates."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select

from tests.factories import tenant_body
from twotier.config import Settings
from twotier.directory.models import Tenant
from twotier.kit import clock
from twotier.kit.db import Database


async def test_same_key_and_body_replays_the_first_response(client: httpx.AsyncClient) -> None:
    body = tenant_body()
    headers = {"Idempotency-Key": "create-contoso"}
    first = await client.post("/api/v1/tenants", json=body, headers=headers)
    second = await client.post("/api/v1/tenants", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"


async def test_same_key_with_another_body_is_refused(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "create-one"}
    assert (await client.post("/api/v1/tenants", json=tenant_body(), headers=headers)).is_success
    response = await client.post("/api/v1/tenants", json=tenant_body(), headers=headers)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"


async def test_a_failed_request_does_not_burn_its_key(client: httpx.AsyncClient) -> None:
    body = tenant_body()
    taken = tenant_body()
    await client.post("/api/v1/tenants", json=taken)
    clash = dict(body, domain=taken["domain"])
    headers = {"Idempotency-Key": "retry-after-fix"}
    refused = await client.post("/api/v1/tenants", json=clash, headers=headers)
    assert refused.status_code == 409
    fixed = await client.post(
        "/api/v1/tenants", json=clash | {"domain": body["domain"]}, headers=headers
    )
    assert fixed.status_code == 201


async def test_keys_are_kept_at_least_a_day(client: httpx.AsyncClient) -> None:
    body = tenant_body()
    headers = {"Idempotency-Key": "day-old"}
    first = await client.post("/api/v1/tenants", json=body, headers=headers)
    clock.travel(24 * 3600 + 60)
    again = await client.post("/api/v1/tenants", json=body, headers=headers)
    assert again.json() == first.json()


async def test_overlong_key_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/tenants", json=tenant_body(), headers={"Idempotency-Key": "k" * 256}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_invalid"


@pytest.mark.committed
async def test_concurrent_duplicates_create_one_tenant(
    committed_client: httpx.AsyncClient, committed_db: Database
) -> None:
    body = tenant_body()
    headers = {"Idempotency-Key": "burst-1"}
    responses = await asyncio.gather(
        *(committed_client.post("/api/v1/tenants", json=body, headers=headers) for _ in range(10))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    async with committed_db.read_sessions() as s:
        count = await s.scalar(
            select(func.count()).select_from(Tenant).where(Tenant.domain == body["domain"])
        )
    assert count == 1


async def test_an_expired_key_is_free_for_a_new_request(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    headers = {"Idempotency-Key": "reused-later"}
    first = await client.post("/api/v1/tenants", json=tenant_body(), headers=headers)
    clock.travel(settings.idempotency_ttl_hours * 3600 + 60)
    later = await client.post("/api/v1/tenants", json=tenant_body(), headers=headers)
    assert first.status_code == later.status_code == 201
    assert later.json()["id"] != first.json()["id"]
    assert "Idempotent-Replayed" not in later.headers
    again = await client.post("/api/v1/tenants", json=tenant_body(), headers=headers)
    assert (again.status_code, again.json()["code"]) == (422, "idempotency_key_reused")
