"""Password strength where passwords are chosen, and the temporary password of a reset:
changed at the next sign-in before anything else works, and expiring unused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.factories import Org, make_org, make_user, sign_in, tenant_body, unique
from twotier.audit.models import AuditRecord
from twotier.config import Settings
from twotier.directory.auth import principal_for_token
from twotier.directory.models import Tenant, TokenKind, User
from twotier.kit import clock
from twotier.kit import passwords as strength

NEW_PASSWORD = "amber kettle drifts north"
WEEK = 7 * 24 * 3600


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def reset(client: httpx.AsyncClient, org: Org, user_id: str) -> str:
    answer = await client.post(f"/api/v1/tenant/users/{user_id}/password-reset", headers=org.auth)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["temporary_password"])


# Strength where a password is chosen.


async def test_sign_up_refuses_a_common_password_with_zxcvbns_reason(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    body = tenant_body(password="qwerty123456")
    refused = await client.post("/api/v1/tenants", json=body)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "password_too_weak"
    assert refused.json()["detail"].startswith("This is a very common password.")
    assert await session.scalar(select(Tenant.id).where(Tenant.domain == body["domain"])) is None
    assert (await client.post("/api/v1/tenants", json=tenant_body())).status_code == 201


async def test_sign_up_refuses_a_password_made_of_the_tenants_domain(
    client: httpx.AsyncClient,
) -> None:
    slug = unique("acme")
    body = tenant_body(domain=f"{slug}.example", password=f"{slug}.example!")
    refused = await client.post("/api/v1/tenants", json=body)
    assert refused.status_code == 422
    assert refused.json()["code"] == "password_too_weak"
    assert "your organization's name or domain" in refused.json()["detail"]


async def test_an_admin_cannot_give_a_new_user_a_password_made_of_their_name(
    client: httpx.AsyncClient,
) -> None:
    org = await make_org(client)
    body = {
        "email": f"nina.lopez@{org.tenant['domain']}",
        "display_name": "Nina Lopez",
        "password": "NinaLopez2026!",
        "roles": [],
    }
    refused = await client.post("/api/v1/tenant/users", json=body, headers=org.auth)
    assert refused.status_code == 422
    assert refused.json()["code"] == "password_too_weak"
    assert refused.json()["detail"].startswith("It is made of your email, your name")
    body["password"] = "Nina-amber-kettle-drifts"
    assert (await client.post("/api/v1/tenant/users", json=body, headers=org.auth)).is_success


@pytest.mark.parametrize(("length", "status"), [(7, 422), (8, 201), (256, 201), (257, 422)])
async def test_passwords_keep_their_length_limits(
    client: httpx.AsyncClient, length: int, status: int
) -> None:
    password = ("x7#Qp9!Lm-kettle-Vb2-lantern-Rx9-orchid-" * 8)[:length]
    assert (
        await client.post("/api/v1/tenants", json=tenant_body(password=password))
    ).status_code == status


async def test_sign_in_never_estimates_strength(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = strength.zxcvbn  # type: ignore[attr-defined]  # the module's own import

    def counting(password: str, user_inputs: Any = None, max_length: int = 72) -> Any:
        calls.append(password)
        return real(password, user_inputs=user_inputs, max_length=max_length)

    monkeypatch.setattr(strength, "zxcvbn", counting)
    org = await make_org(client)
    assert len(calls) == 1  # the sign-up
    for _ in range(3):
        token = await sign_in(client, org.email)
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    assert len(calls) == 1


# The temporary password of a reset.


async def test_a_temporary_password_allows_only_the_change_then_everything_works(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await make_org(client)
    user, _token = await make_user(client, org)
    temporary = await reset(client, org, user["id"])
    auth = bearer(await sign_in(client, user["email"], temporary))

    for method, path in [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/tenant/users"),
        ("POST", "/api/v1/tenant/users"),
        ("GET", "/api/v1/my/partners"),
        ("GET", f"/api/v1/tenant/users/{user['id']}"),
    ]:
        blocked = await client.request(method, path, headers=auth, json={})
        assert blocked.status_code == 403, (method, path)
        assert blocked.json()["code"] == "password_change_required"

    change = "/api/v1/me/password"
    wrong = await client.post(
        change, json={"current_password": "not it", "new_password": NEW_PASSWORD}, headers=auth
    )
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "current_password_incorrect"
    weak = await client.post(
        change, json={"current_password": temporary, "new_password": "password123"}, headers=auth
    )
    assert weak.status_code == 422
    assert weak.json()["code"] == "password_too_weak"
    same = await client.post(
        change, json={"current_password": temporary, "new_password": temporary}, headers=auth
    )
    assert same.status_code == 422
    assert same.json()["code"] == "password_unchanged"
    still = await client.get("/api/v1/me", headers=auth)
    assert still.json()["code"] == "password_change_required"

    done = await client.post(
        change, json={"current_password": temporary, "new_password": NEW_PASSWORD}, headers=auth
    )
    assert done.status_code == 204
    assert (await client.get("/api/v1/me", headers=auth)).status_code == 200  # same token
    fresh = bearer(await sign_in(client, user["email"], NEW_PASSWORD))
    assert (await client.get("/api/v1/me", headers=fresh)).status_code == 200
    old = await client.post(
        "/api/v1/auth/token", json={"email": user["email"], "password": temporary}
    )
    assert old.status_code == 401
    changed = await session.scalar(
        select(AuditRecord).where(AuditRecord.operation == "user_password_changed")
    )
    assert changed is not None
    assert changed.detail["was_temporary"] is True


async def test_signing_out_works_while_a_change_is_due(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    user, _token = await make_user(client, org)
    auth = bearer(await sign_in(client, user["email"], await reset(client, org, user["id"])))
    assert (await client.delete("/api/v1/auth/token", headers=auth)).status_code == 204
    gone = await client.get("/api/v1/me", headers=auth)
    assert gone.status_code == 401


async def test_a_reset_ends_the_users_sessions(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    user, token = await make_user(client, org)
    assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    await reset(client, org, user["id"])
    assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 401


async def test_a_temporary_password_expires_after_a_week(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await make_org(client)
    user, _token = await make_user(client, org)
    temporary = await reset(client, org, user["id"])
    clock.travel(WEEK - 60)
    assert await sign_in(client, user["email"], temporary)
    clock.travel(120)
    expired = await client.post(
        "/api/v1/auth/token", json={"email": user["email"], "password": temporary}
    )
    assert expired.status_code == 401
    assert expired.json()["code"] == "temporary_password_expired"
    org.token = await sign_in(client, org.email, org.password)  # a week on: a fresh token
    again = await reset(client, org, user["id"])
    assert await sign_in(client, user["email"], again)


async def test_changing_ones_password_keeps_this_session_and_ends_the_others(
    client: httpx.AsyncClient,
) -> None:
    org = await make_org(client)
    other = bearer(await sign_in(client, org.email, org.password))
    done = await client.post(
        "/api/v1/me/password",
        json={"current_password": org.password, "new_password": NEW_PASSWORD},
        headers=org.auth,
    )
    assert done.status_code == 204
    assert (await client.get("/api/v1/me", headers=org.auth)).status_code == 200
    assert (await client.get("/api/v1/me", headers=other)).status_code == 401


async def test_wrong_current_passwords_are_throttled(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    org = await make_org(client)
    body = {"current_password": "not it", "new_password": NEW_PASSWORD}
    for _ in range(settings.signin_max_failures_per_device):
        answer = await client.post("/api/v1/me/password", json=body, headers=org.auth)
        assert answer.status_code == 403
    throttled = await client.post(
        "/api/v1/me/password",
        json={"current_password": org.password, "new_password": NEW_PASSWORD},
        headers=org.auth,
    )
    assert throttled.status_code == 429
    assert "Retry-After" in throttled.headers


async def test_the_due_change_costs_no_query_of_its_own(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    org = await make_org(client)
    user, _token = await make_user(client, org)
    due_token = await sign_in(client, user["email"], await reset(client, org, user["id"]))
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.upper().startswith(("SAVEPOINT", "RELEASE", "BEGIN")):
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        due = await principal_for_token(session, due_token, TokenKind.api)
        normal = await principal_for_token(session, org.token, TokenKind.api)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert due is not None
    assert due.password_change_due
    assert normal is not None
    assert not normal.password_change_due
    assert len(statements) == 2


async def test_the_stored_expiry_is_cleared_by_the_change(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await make_org(client)
    user, _token = await make_user(client, org)
    temporary = await reset(client, org, user["id"])
    due = await session.scalar(
        select(func.count()).where(
            User.email == user["email"], User.temporary_password_expires_at.is_not(None)
        )
    )
    assert due == 1
    auth = bearer(await sign_in(client, user["email"], temporary))
    await client.post(
        "/api/v1/me/password",
        json={"current_password": temporary, "new_password": NEW_PASSWORD},
        headers=auth,
    )
    session.expire_all()
    cleared = await session.scalar(
        select(User.temporary_password_expires_at).where(User.email == user["email"])
    )
    assert cleared is None
