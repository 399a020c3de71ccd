"""POST/DELETE /api/v1/auth/token, GET /api/v1/me (throttling: test_throttle.py)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import PASSWORD, make_org, sign_in
from twotier.directory.models import AccessToken
from twotier.kit import clock
from twotier.kit.security import token_hash


async def test_token_is_long_random_and_stored_only_hashed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await make_org(client)
    response = await client.post(
        "/api/v1/auth/token", json={"email": org.email, "password": org.password}
    )
    data = response.json()
    assert data["token_type"] == "bearer"
    assert data["expires_in"] > 0
    token = data["access_token"]
    assert len(token) >= 22  # ≥128 bits in URL-safe base64
    stored = await session.scalar(
        select(AccessToken).where(AccessToken.token_hash == token_hash(token))
    )
    assert stored is not None
    all_hashes = (await session.scalars(select(AccessToken.token_hash))).all()
    assert token not in all_hashes


async def test_email_is_matched_case_insensitively(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    assert await sign_in(client, org.email.upper(), org.password)


async def test_an_address_longer_than_any_email_is_refused_before_the_throttle(
    client: httpx.AsyncClient,
) -> None:
    # The throttle keys on the address; a longer one would not fit its column (PostgreSQL).
    longest = "a" * 64 + "@" + "b" * 184 + ".test"
    assert len(longest) == 254
    for email, status in ((longest, 401), (longest + "x", 422)):
        response = await client.post(
            "/api/v1/auth/token", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == status, response.text


async def test_unknown_email_and_wrong_password_answer_the_same(
    client: httpx.AsyncClient,
) -> None:
    org = await make_org(client)
    wrong = await client.post(
        "/api/v1/auth/token", json={"email": org.email, "password": "not-the-password"}
    )
    unknown = await client.post(
        "/api/v1/auth/token", json={"email": "nobody@nowhere.example", "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["code"] == "invalid_credentials"


async def test_unknown_email_still_verifies_a_password_hash(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same work for unknown and known emails: one argon2 verification each."""
    from twotier.kit import security

    calls: list[str | None] = []
    real = security._verify_sync

    def counting(password_hash: str | None, password: str) -> bool:
        calls.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(security, "_verify_sync", counting)
    await client.post("/api/v1/auth/token", json={"email": "ghost@x.example", "password": "x"})
    assert calls == [None]


async def test_me_needs_a_valid_token(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/me")
    assert missing.status_code == 401
    assert missing.json()["code"] == "not_authenticated"
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    bad = await client.get("/api/v1/me", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.json()["code"] == "invalid_token"
    basic = await client.get("/api/v1/me", headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401


async def test_revoked_token_stops_working(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    assert (await client.get("/api/v1/me", headers=org.auth)).status_code == 200
    assert (await client.delete("/api/v1/auth/token", headers=org.auth)).status_code == 204
    after = await client.get("/api/v1/me", headers=org.auth)
    assert after.status_code == 401


async def test_revoking_one_token_leaves_the_others(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    other = await sign_in(client, org.email, org.password)
    await client.delete("/api/v1/auth/token", headers=org.auth)
    still = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {other}"})
    assert still.status_code == 200


async def test_expired_token_stops_working(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    clock.travel(3601)
    response = await client.get("/api/v1/me", headers=org.auth)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_a_session_token_is_not_a_bearer_token(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await make_org(client)
    await session.execute(update(AccessToken).values(kind="session"))
    response = await client.get("/api/v1/me", headers=org.auth)
    assert response.status_code == 401


async def test_tokens_expire_after_the_configured_lifetime(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await make_org(client)
    stored = await session.scalar(
        select(AccessToken).where(AccessToken.token_hash == token_hash(org.token))
    )
    assert stored is not None
    lifetime = stored.expires_at - stored.created_at
    assert timedelta(minutes=59) < lifetime <= timedelta(hours=1)
