"""POST /api/v1/tenants and the shape of what it answers."""

from __future__ import annotations

import hashlib

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import make_org, tenant_body
from twotier.audit.models import AuditRecord
from twotier.directory.models import Tenant, User


async def test_creating_a_tenant_answers_its_public_fields(client: httpx.AsyncClient) -> None:
    body = tenant_body("Contoso", country="tw")
    response = await client.post("/api/v1/tenants", json=body)
    assert response.status_code == 201
    data = response.json()
    assert set(data) == {"id", "display_name", "domain", "country"}
    assert data["display_name"] == "Contoso"
    assert data["domain"] == body["domain"]
    assert data["country"] == "TW"


async def test_first_user_is_global_admin_with_argon2id_password(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await make_org(client)
    me = (await client.get("/api/v1/me", headers=org.auth)).json()
    assert me["user"]["roles"] == ["global_admin"]
    assert me["tenant"]["id"] == org.id
    assert me["partner"] is None
    user = await session.scalar(select(User).where(User.email == org.email))
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert org.password not in user.password_hash


async def test_domain_is_unique_case_insensitively(client: httpx.AsyncClient) -> None:
    first = tenant_body()
    assert (await client.post("/api/v1/tenants", json=first)).status_code == 201
    again = tenant_body(domain=first["domain"].upper())
    response = await client.post("/api/v1/tenants", json=again)
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "domain_taken"


async def test_admin_email_is_unique(client: httpx.AsyncClient) -> None:
    first = tenant_body()
    assert (await client.post("/api/v1/tenants", json=first)).status_code == 201
    response = await client.post("/api/v1/tenants", json=tenant_body(email=first["admin"]["email"]))
    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"


async def test_a_refused_tenant_leaves_nothing_behind(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first = tenant_body()
    await client.post("/api/v1/tenants", json=first)
    clash = tenant_body(email=first["admin"]["email"])
    await client.post("/api/v1/tenants", json=clash)
    assert await session.scalar(select(Tenant).where(Tenant.domain == clash["domain"])) is None
    audited = (await session.scalars(select(AuditRecord.detail))).all()
    assert all(detail.get("domain") != clash["domain"] for detail in audited)


async def test_invalid_input_is_a_problem_with_field_locations(client: httpx.AsyncClient) -> None:
    body = tenant_body(country="XX")
    body["domain"] = "not a domain"
    body["admin"]["password"] = "short"
    response = await client.post("/api/v1/tenants", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert problem["status"] == 422
    locations = {".".join(err["loc"]) for err in problem["errors"]}
    assert {"body.domain", "body.country", "body.admin.password"} <= locations


async def test_passwords_may_be_long(client: httpx.AsyncClient) -> None:
    body = tenant_body(password=(hashlib.sha256(b"long").hexdigest() * 4)[:200])
    assert (await client.post("/api/v1/tenants", json=body)).status_code == 201
