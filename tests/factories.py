"""Plain helpers that make things through the API, as a client would."""

from __future__ import annotations

import uuid
import weakref
from dataclasses import dataclass
from typing import Any

import httpx

from twotier.operator.service import create_operator

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


OPERATOR_PASSWORD = "ledger-night-owl-42"


async def make_operator(client: httpx.AsyncClient, session: Any) -> dict[str, str]:
    """An operator user (created as `twotier operator create` does); returns auth headers."""
    email = f"{unique('ops')}@vendor.example"
    await create_operator(session, email=email, password=OPERATOR_PASSWORD, name="Ops")
    await session.flush()
    return {"Authorization": f"Bearer {await sign_in(client, email, OPERATOR_PASSWORD)}"}


async def make_membership(
    client: httpx.AsyncClient,
    operator: dict[str, str],
    organizations: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A membership-registry account; the answer plus its ``password``."""
    body = {
        "username": unique("member"),
        "password": PASSWORD,
        "organizations": organizations or [{"legal_name": f"Org {unique()}", "country": "TW"}],
    }
    response = await client.post("/api/v1/operator/memberships", json=body, headers=operator)
    assert response.status_code == 201, response.text
    return dict(response.json()) | {"password": PASSWORD}


def enrollment_body(
    membership: dict[str, Any] | None,
    *,
    program: str = "indirect_reseller",
    partner_id: str | None = None,
    contact_email: str | None = None,
    company: str = "Fabrikam Cloud Resellers Ltd",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "program": program,
        "support_profile": {
            "email": "support@fabrikam.example",
            "phone": "+886 2 1234 5678",
            "website": "https://fabrikam.example/support",
        },
    }
    if membership is not None:
        body |= {
            "membership": {
                "username": membership["username"],
                "password": membership["password"],
                "partner_id": partner_id or membership["organizations"][0]["partner_id"],
            },
            "legal_profile": {
                "company_name": company,
                "address": {
                    "line1": "1 Xinyi Road",
                    "city": "Taipei",
                    "postal_code": "110",
                    "country": "TW",
                },
            },
            "primary_contact": {
                "first_name": "Lin",
                "last_name": "Wei",
                "email": contact_email or f"{unique('contact')}@fabrikam.example",
                "phone": "+886 912 345 678",
            },
        }
    return body


_MAILBOX_READERS: weakref.WeakKeyDictionary[httpx.AsyncClient, dict[str, str]] = (
    weakref.WeakKeyDictionary()
)


async def mailbox(
    client: httpx.AsyncClient, to: str | None = None, **params: Any
) -> list[dict[str, Any]]:
    """The dev mailbox's messages (to ``to``), read as only a signed-in operator may."""
    auth = _MAILBOX_READERS.get(client)
    if auth is None:
        app = client._transport.app  # type: ignore[attr-defined]  # the ASGI app under test
        email = f"{unique('mail-reader')}@vendor.example"
        async with app.state.db.write_sessions() as session, session.begin():
            await create_operator(session, email=email, password=OPERATOR_PASSWORD, name="Ops")
        auth = {"Authorization": f"Bearer {await sign_in(client, email, OPERATOR_PASSWORD)}"}
        _MAILBOX_READERS[client] = auth
    if to is not None:
        params["to"] = to
    response = await client.get("/api/v1/dev/mailbox", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])
