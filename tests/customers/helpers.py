from __future__ import annotations

from typing import Any

import httpx

from tests.channel.helpers import accept, invite, provider_and_reseller
from tests.factories import Org, make_org
from twotier.config import Settings
from twotier.kit.db import Database


async def linked_pair(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> tuple[Org, Org, str, str]:
    """An approved provider and reseller (admins are admin agents), linked."""
    provider, reseller = await provider_and_reseller(client, db, settings, operator)
    assert (await accept(client, reseller, await invite(client, provider))).status_code == 200
    provider_id = (await client.get("/api/v1/partner", headers=provider.auth)).json()["id"]
    reseller_id = (await client.get("/api/v1/partner", headers=reseller.auth)).json()["id"]
    return provider, reseller, provider_id, reseller_id


async def invite_customer(
    client: httpx.AsyncClient, reseller: Org, provider_id: str | None = None, **body: Any
) -> dict[str, Any]:
    path = (
        f"/api/v1/indirect-providers/{provider_id}/customer-invitations"
        if provider_id
        else "/api/v1/customer-invitations"
    )
    response = await client.post(
        path, json={"email": "it@northwind.example"} | body, headers=reseller.auth
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def token(invitation: dict[str, Any]) -> str:
    return str(invitation["invite_url"]).rsplit("/", 1)[1]


async def accept_as_customer(
    client: httpx.AsyncClient, customer: Org, invitation: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"/api/v1/invitations/{token(invitation)}/accept",
        json={"authorize": True},
        headers=customer.auth,
    )


async def customer_of(
    client: httpx.AsyncClient,
    reseller: Org,
    provider_id: str | None = None,
    name: str = "Northwind Traders",
    domain: str | None = None,
    **body: Any,
) -> Org:
    customer = await make_org(client, name=name, domain=domain)
    invitation = await invite_customer(client, reseller, provider_id, **body)
    response = await accept_as_customer(client, customer, invitation)
    assert response.status_code == 200, response.text
    return customer
