"""Plain helpers that make things through the API, as a client would."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "correct horse battery"


@dataclass
class Org:
    tenant: dict[str, Any]
    email: str
    password: str
    token: str

    @property
    def id(self) -> str:
        return str(self.tenant["id"])

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def unique(prefix: str = "org") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def tenant_body(
    name: str | None = None,
    *,
    domain: str | None = None,
    country: str = "TW",
    email: str | None = None,
    password: str = PASSWORD,
) -> dict[str, Any]:
    slug = unique()
    return {
        "display_name": name or f"Org {slug}",
        "domain": domain or f"{slug}.example",
        "country": country,
        "admin": {
            "email": email or f"admin@{slug}.example",
            "display_name": "Ada Admin",
            "password": password,
        },
    }


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def make_org(client: httpx.AsyncClient, **kwargs: Any) -> Org:
    body = tenant_body(**kwargs)
    response = await client.post("/api/v1/tenants", json=body)
    assert response.status_code == 201, response.text
    email = body["admin"]["email"]
    token = await sign_in(client, email, body["admin"]["password"])
    return Org(response.json(), email, body["admin"]["password"], token)


async def make_user(
    client: httpx.AsyncClient, org: Org, roles: list[str] | None = None
) -> tuple[dict[str, Any], str]:
    email = f"{unique('user')}@{org.tenant['domain']}"
    response = await client.post(
        "/api/v1/tenant/users",
        json={
            "email": email,
            "display_name": "Uma User",
            "password": PASSWORD,
            "roles": roles or [],
        },
        headers=org.auth,
    )
    assert response.status_code == 201, response.text
    return response.json(), await sign_in(client, email)
