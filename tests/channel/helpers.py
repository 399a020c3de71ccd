from __future__ import annotations

from typing import Any

import httpx

from tests.enrollment.helpers import approved_partner
from tests.factories import Org, make_org, make_user
from twotier.config import Settings
from twotier.kit.db import Database


async def make_admin_agent(client: httpx.AsyncClient, org: Org) -> None:
    """Seed step 9: the global admin puts themselves in the Admin agent group."""
    me = (await client.get("/api/v1/me", headers=org.auth)).json()["user"]
    response = await client.put(
        f"/api/v1/partner/users/{me['id']}/roles",
        json={"partner_roles": ["admin_agent"]},
        headers=org.auth,
    )
    assert response.status_code == 200, response.text


async def approved(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    program: str,
    name: str | None = None,
) -> Org:
    """An approved partner whose global admin is also an admin agent."""
    org = await make_org(client, name=name)
    await approved_partner(client, db, settings, org, operator, program=program, company=name)
    await make_admin_agent(client, org)
    return org


async def provider_and_reseller(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> tuple[Org, Org]:
    provider = await approved(
        client, db, settings, operator, "indirect_provider", "Contoso Distribution"
    )
    reseller = await approved(
        client, db, settings, operator, "indirect_reseller", "Fabrikam Resellers"
    )
    return provider, reseller


async def user_with_partner_roles(
    client: httpx.AsyncClient, org: Org, roles: list[str]
) -> dict[str, str]:
    user, token = await make_user(client, org)
    response = await client.put(
        f"/api/v1/partner/users/{user['id']}/roles",
        json={"partner_roles": roles},
        headers=org.auth,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {token}"}


async def invite(client: httpx.AsyncClient, provider: Org, **body: Any) -> dict[str, Any]:
    payload = {"email": "partners@fabrikam.example"} | body
    response = await client.post(
        "/api/v1/reseller-invitations", json=payload, headers=provider.auth
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def token_of(invitation: dict[str, Any]) -> str:
    return str(invitation["invite_url"]).rsplit("/", 1)[1]


async def accept(
    client: httpx.AsyncClient, org: Org, invitation: dict[str, Any], authorize: bool = True
) -> httpx.Response:
    return await client.post(
        f"/api/v1/invitations/{token_of(invitation)}/accept",
        json={"authorize": authorize},
        headers=org.auth,
    )
