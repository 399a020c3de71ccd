"""The operator area: API and portal, closed to everyone else."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests import html
from tests.factories import make_org, sign_in
from twotier.directory.models import User
from twotier.operator.service import create_operator


async def make_operator(session: AsyncSession, email: str = "ops@vendor.example") -> str:
    await create_operator(session, email=email, password="ledger-night-owl-42", name="Ops")
    await session.flush()
    return email


async def portal_sign_in(client: httpx.AsyncClient, email: str, password: str) -> None:
    page = await client.get("/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    response = await client.post(
        "/signin", data={"email": email, "password": password, "csrf_token": token.group(1)}
    )
    assert response.status_code == 303


async def test_operator_lists_every_tenant_with_prefix_search(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    email = await make_operator(session)
    await make_org(client, name="Contoso Distribution")
    await make_org(client, name="Fabrikam Resellers")
    token = await sign_in(client, email, "ledger-night-owl-42")
    auth = {"Authorization": f"Bearer {token}"}
    everyone = (await client.get("/api/v1/operator/tenants", headers=auth)).json()["items"]
    names = {t["display_name"] for t in everyone}
    assert {"Contoso Distribution", "Fabrikam Resellers"} <= names
    found = (
        await client.get("/api/v1/operator/tenants", params={"q": "conTOSO"}, headers=auth)
    ).json()["items"]
    assert [t["display_name"] for t in found] == ["Contoso Distribution"]


async def test_operator_sees_the_operator_area_in_the_portal(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    email = await make_operator(session)
    await make_org(client, name="Northwind Traders")
    await portal_sign_in(client, email, "ledger-night-owl-42")
    dashboard = await client.get("/dashboard")
    assert "/operator/tenants" in html.nav(dashboard.text)
    page = await client.get("/operator/tenants?q=north")
    assert page.status_code == 200
    assert "Northwind Traders" in page.text


async def test_partner_users_get_no_operator_area(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await make_org(client)
    assert (await client.get("/api/v1/operator/tenants", headers=org.auth)).status_code == 403
    await portal_sign_in(client, org.email, org.password)
    dashboard = await client.get("/dashboard")
    assert "/operator/tenants" not in html.hrefs(dashboard.text)
    assert (await client.get("/operator/tenants")).status_code == 404

    client.cookies.clear()
    await portal_sign_in(client, await make_operator(session), "ledger-night-owl-42")
    operators = await client.get("/dashboard")
    assert "/operator/tenants" in html.hrefs(operators.text)


async def test_a_plain_users_navigation_hides_user_management(
    client: httpx.AsyncClient,
) -> None:
    org = await make_org(client)
    email = f"plain@{org.tenant['domain']}"
    await client.post(
        "/api/v1/tenant/users",
        json={"email": email, "display_name": "Pat", "password": "tidal-juniper-40", "roles": []},
        headers=org.auth,
    )
    await portal_sign_in(client, email, "tidal-juniper-40")
    dashboard = await client.get("/dashboard")
    assert dashboard.status_code == 200
    assert "/account/users" not in html.hrefs(dashboard.text)
    assert (await client.get("/account/users")).status_code == 403

    client.cookies.clear()
    await portal_sign_in(client, org.email, org.password)  # the tenant's global admin
    admins = await client.get("/dashboard")
    assert "/account/users" in html.nav(admins.text)


async def test_an_operator_cannot_be_created_with_a_weak_password(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match=r"the password is too weak\. It is made of"):
        await create_operator(
            session, email="olivia@vendor.example", password="Olivia-Ops-1", name="Olivia Ops"
        )
    with pytest.raises(ValueError, match=r"the password is too weak\. This is a very common"):
        await create_operator(
            session, email="olivia@vendor.example", password="password123", name="Olivia Ops"
        )
    assert (
        await session.scalar(select(User.id).where(User.email == "olivia@vendor.example")) is None
    )
