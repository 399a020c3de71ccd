"""What never reaches the database raw: control characters, oversized bodies, bad ids; and
what never leaves the server: bound parameters and internal errors."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.channel.helpers import approved
from tests.factories import PASSWORD, make_operator, make_org, tenant_body
from twotier.app import create_app
from twotier.config import Settings
from twotier.directory.models import Tenant, User
from twotier.kit.db import Database, make_engine
from twotier.kit.edge import EdgeMiddleware


def assert_invalid_characters(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "invalid_characters"


async def tenant_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Tenant)) or 0)


async def test_nul_in_sign_in_email_is_refused_before_the_database(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/v1/auth/token", json={"email": "a\u0000@b.example", "password": "whatever"}
    )
    assert_invalid_characters(response)
    assert response.json()["location"] == "body.email"


async def test_nul_in_tenant_name_writes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    before = await tenant_count(session)
    body = tenant_body("Evil\u0000 Corp")

    assert_invalid_characters(await client.post("/api/v1/tenants", json=body))

    assert await tenant_count(session) == before
    clean = await client.post("/api/v1/tenants", json=tenant_body("Honest Corp"))
    assert clean.status_code == 201
    assert await tenant_count(session) == before + 1


async def test_control_characters_in_user_creation_write_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await make_org(client)
    users_before = await session.scalar(select(func.count()).select_from(User))
    for field, value in [
        ("password", "long enough\u0000password"),
        ("display_name", "Ann\u001bHacker"),
        ("email", "ann\u0007@example.test"),
    ]:
        body: dict[str, Any] = {
            "email": f"ann-{uuid.uuid4().hex[:6]}@example.test",
            "display_name": "Ann",
        }
        body |= {"password": PASSWORD, "roles": []}
        body[field] = value
        response = await client.post("/api/v1/tenant/users", json=body, headers=org.auth)
        assert_invalid_characters(response)
        assert response.json()["location"] == f"body.{field}"
    assert await session.scalar(select(func.count()).select_from(User)) == users_before


async def test_nul_in_a_json_key_or_nested_list_is_refused(client: httpx.AsyncClient) -> None:
    nested = tenant_body() | {"tags": [["ok", "bad\u0001"]]}
    assert_invalid_characters(await client.post("/api/v1/tenants", json=nested))
    keyed = tenant_body() | {"bad\u0000key": 1}
    assert_invalid_characters(await client.post("/api/v1/tenants", json=keyed))


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/customers?q=%00",
        "/api/v1/providers?q=a%00",
        "/api/v1/providers?q%01=a",
        "/api/v1/providers?q=a%0Ab",
        "/api/v1/customers/%00",
        "/api/v1/webhooks/abc%09def",
    ],
)
async def test_control_characters_in_path_or_query_are_refused(
    client: httpx.AsyncClient, url: str
) -> None:
    assert_invalid_characters(await client.get(url))


async def test_tab_and_newlines_stay_allowed_in_free_text(
    client: httpx.AsyncClient, db: Database, settings: Settings, session: AsyncSession
) -> None:
    operator = await make_operator(client, session)
    provider = await approved(client, db, settings, operator, "indirect_provider")
    message = "Hello,\r\n\tlet us work together.\n"

    response = await client.post(
        "/api/v1/reseller-invitations",
        json={"email": "new@reseller.example", "message": message},
        headers=provider.auth,
    )

    assert response.status_code == 201, response.text
    assert "let us work together." in response.json()["draft_email"]["body"]
    bell = {"email": "new@reseller.example", "message": "Hi\u0007"}
    refused = await client.post("/api/v1/reseller-invitations", json=bell, headers=provider.auth)
    assert_invalid_characters(refused)


async def test_portal_form_with_nul_gets_an_error_page_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/signin", data={"email": "a\u0000@b.example", "password": "x", "csrf_token": "x"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "control character" in response.text


async def test_multipart_text_field_with_nul_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/operator/memberships",
        data={"csrf_token": "x\u0000"},
        files={"file": ("members.csv", b"username,password\n", "text/csv")},
    )
    assert response.status_code == 422
    assert "control character" in response.text


async def test_body_over_the_cap_is_refused_by_its_length_without_reading_it(
    settings: Settings, db: Database
) -> None:
    small = settings.model_copy(update={"max_body_bytes": 2048})
    app = create_app(small, db=db)
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"{}", "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/tenants",
        "raw_path": b"/api/v1/tenants",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)

    assert sent[0]["status"] == 413
    assert b'"code":"payload_too_large"' in b"".join(m.get("body", b"") for m in sent)
    assert reads == 0


async def test_streamed_body_over_the_cap_is_refused(
    settings: Settings, db: Database, session: AsyncSession
) -> None:
    small = settings.model_copy(update={"max_body_bytes": 4096})
    transport = httpx.ASGITransport(app=create_app(small, db=db))
    before = await tenant_count(session)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"display_name": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        response = await c.post(
            "/api/v1/tenants", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"
        fits = await c.post("/api/v1/tenants", json=tenant_body("Fits Ltd"))
        assert fits.status_code == 201
    assert await tenant_count(session) == before + 1


def test_default_body_cap_is_one_mebibyte(settings: Settings) -> None:
    assert Settings(_env_file=None).max_body_bytes == 1024 * 1024
    app = create_app(settings)
    caps = [
        m.kwargs["max_body_bytes"]
        for m in app.user_middleware
        if m.cls is EdgeMiddleware  # type: ignore[comparison-overlap]  # starlette types it as a factory
    ]
    assert caps == [settings.max_body_bytes]


async def test_unexpected_error_answers_problem_json_with_request_id_and_nothing_inside(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings, db=db)
    boom = APIRouter()

    @boom.get("/api/v1/_boom")
    async def explode() -> None:
        raise RuntimeError("secret internals: postgres://admin:hunter2@db")

    app.include_router(boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    caplog.set_level(logging.CRITICAL)  # Starlette logs the traceback; not what is tested
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        response = await c.get("/api/v1/_boom", headers={"X-Request-Id": "trace-42"})

    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "internal_error"
    assert body["request_id"] == "trace-42"
    assert response.headers["X-Request-Id"] == "trace-42"
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_database_errors_never_carry_bound_parameters(database_url: str) -> None:
    engine: AsyncEngine = make_engine(database_url)
    secret = f"$argon2id$v=19$secret-{uuid.uuid4().hex}"
    try:
        assert engine.sync_engine.hide_parameters is True
        async with engine.connect() as conn:
            with pytest.raises(IntegrityError) as failure:
                # NOT NULL columns left empty: the database refuses the row.
                await conn.execute(
                    text("INSERT INTO users (id, password_hash) VALUES (:id, :hash)"),
                    {"id": uuid.uuid4().hex, "hash": secret},
                )
            await conn.rollback()
    finally:
        await engine.dispose()
    assert secret not in str(failure.value)
    assert "hidden" in str(failure.value)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/v1/indirect-resellers/not-a-uuid"),
        ("DELETE", "/api/v1/indirect-providers/not-a-uuid"),
        ("GET", "/api/v1/indirect-resellers/not-a-uuid/customers"),
        ("GET", "/api/v1/indirect-providers/not-a-uuid/customers"),
    ],
)
async def test_channel_ids_are_typed_path_parameters(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    org = await make_org(client)
    response = await client.request(method, path, headers=org.auth)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    template = path.replace(
        "not-a-uuid", "{reseller_id}" if "resellers" in path else "{provider_id}"
    )
    operation = create_app().openapi()["paths"][template][method.lower()]
    [param] = [p for p in operation["parameters"] if p["in"] == "path"]
    assert param["schema"]["format"] == "uuid"
