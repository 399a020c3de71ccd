"""Partner account, profiles, partner roles and the official provider list."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.enrollment.helpers import approved_partner
from tests.factories import Org, make_org, make_user
from twotier.config import Settings
from twotier.kit.db import Database


async def partner(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    program: str = "indirect_reseller",
    **org_kwargs: object,
) -> Org:
    org = await make_org(client, **org_kwargs)
    await approved_partner(client, db, settings, org, operator, program=program)
    return org


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_global_admin_makes_themselves_admin_agent(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> None:
    org = await partner(client, db, settings, operator)
    me = (await client.get("/api/v1/me", headers=org.auth)).json()
    assert me["partner"]["partner_roles"] == []
    response = await client.put(
        f"/api/v1/partner/users/{me['user']['id']}/roles",
        json={"partner_roles": ["admin_agent"]},
        headers=org.auth,
    )
    assert response.status_code == 200
    assert response.json()["partner_roles"] == ["admin_agent"]
    me = (await client.get("/api/v1/me", headers=org.auth)).json()
    assert me["partner"]["partner_roles"] == ["admin_agent"]
    users = (await client.get("/api/v1/partner/users", headers=org.auth)).json()["items"]
    assert [u["partner_roles"] for u in users] == [["admin_agent"]]


async def test_only_global_and_user_admins_assign_partner_roles(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> None:
    org = await partner(client, db, settings, operator)
    target, _t = await make_user(client, org)
    _agent, agent_token = await make_user(client, org)
    me = (await client.get("/api/v1/me", headers=org.auth)).json()["user"]
    await client.put(
        f"/api/v1/partner/users/{_agent['id']}/roles",
        json={"partner_roles": ["admin_agent"]},
        headers=org.auth,
    )
    refused = await client.put(
        f"/api/v1/partner/users/{target['id']}/roles",
        json={"partner_roles": ["sales_agent"]},
        headers=bearer(agent_token),
    )
    assert refused.status_code == 403
    _ua, ua_token = await make_user(client, org, ["user_admin"])
    allowed = await client.put(
        f"/api/v1/partner/users/{target['id']}/roles",
        json={"partner_roles": ["sales_agent", "helpdesk_agent"]},
        headers=bearer(ua_token),
    )
    assert allowed.status_code == 200
    assert allowed.json()["partner_roles"] == ["helpdesk_agent", "sales_agent"]
    assert me["roles"] == ["global_admin"]


async def test_unknown_partner_role_is_refused(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> None:
    org = await partner(client, db, settings, operator)
    me = (await client.get("/api/v1/me", headers=org.auth)).json()["user"]
    response = await client.put(
        f"/api/v1/partner/users/{me['id']}/roles",
        json={"partner_roles": ["overlord"]},
        headers=org.auth,
    )
    assert response.status_code == 422


async def test_partner_endpoints_are_404_for_a_tenant_that_is_not_a_partner(
    client: httpx.AsyncClient,
) -> None:
    org = await make_org(client)
    me = (await client.get("/api/v1/me", headers=org.auth)).json()["user"]
    for method, path, body in (
        ("GET", "/api/v1/partner", None),
        ("GET", "/api/v1/partner/users", None),
        ("PUT", f"/api/v1/partner/users/{me['id']}/roles", {"partner_roles": ["admin_agent"]}),
        ("PATCH", "/api/v1/partner/support-profile", {"email": "s@x.example"}),
    ):
        response = await client.request(method, path, json=body, headers=org.auth)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_a_partner"


async def test_another_tenants_user_is_404_for_partner_roles(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> None:
    mine = await partner(client, db, settings, operator)
    theirs = await partner(client, db, settings, operator)
    their_user, _t = await make_user(client, theirs)
    response = await client.put(
        f"/api/v1/partner/users/{their_user['id']}/roles",
        json={"partner_roles": ["admin_agent"]},
        headers=mine.auth,
    )
    assert response.status_code == 404
    listed = (await client.get("/api/v1/partner/users", headers=mine.auth)).json()["items"]
    assert their_user["id"] not in [u["id"] for u in listed]


async def test_profiles_are_changed_by_global_admins_and_admin_agents_only(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> None:
    org = await partner(client, db, settings, operator)
    support = {"email": "care@fabrikam.example", "phone": "+886 2 5555 0000"}
    changed = await client.patch("/api/v1/partner/support-profile", json=support, headers=org.auth)
    assert changed.status_code == 200
    assert changed.json()["support_profile"]["email"] == "care@fabrikam.example"
    legal = {
        "company_name": "Fabrikam Holdings",
        "address": {
            "line1": "2 Renai Road",
            "city": "Taipei",
            "postal_code": "106",
            "country": "TW",
        },
    }
    renamed = await client.patch("/api/v1/partner/legal-profile", json=legal, headers=org.auth)
    assert renamed.json()["company_name"] == "Fabrikam Holdings"
    sales, sales_token = await make_user(client, org)
    await client.put(
        f"/api/v1/partner/users/{sales['id']}/roles",
        json={"partner_roles": ["sales_agent"]},
        headers=org.auth,
    )
    refused = await client.patch(
        "/api/v1/partner/support-profile", json=support, headers=bearer(sales_token)
    )
    assert refused.status_code == 403
    assert (await client.get("/api/v1/partner", headers=bearer(sales_token))).status_code == 200


async def test_bad_support_profile_is_refused(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> None:
    org = await partner(client, db, settings, operator)
    response = await client.patch(
        "/api/v1/partner/support-profile",
        json={"email": "not-an-email", "website": "ftp//nope"},
        headers=org.auth,
    )
    assert response.status_code == 422


async def test_provider_list_shows_approved_providers_only(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> None:
    await partner(
        client, db, settings, operator, program="indirect_provider", name="Contoso Distribution"
    )
    await partner(
        client, db, settings, operator, program="indirect_reseller", name="Fabrikam Resellers"
    )
    items = (await client.get("/api/v1/providers")).json()["items"]
    names = [p["company_name"] for p in items]
    assert "Fabrikam Cloud Resellers Ltd" in names  # the enrollment's legal name
    provider = next(p for p in items if p["company_name"] == "Fabrikam Cloud Resellers Ltd")
    assert set(provider) == {"id", "partner_id", "company_name", "country", "support_profile"}
    assert provider["support_profile"]["email"] == "support@fabrikam.example"
    assert len(items) == 1


async def test_provider_list_searches_by_country_and_name_prefix_and_pages(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    session: AsyncSession,
) -> None:
    from sqlalchemy import update

    from twotier.directory.models import PartnerAccount

    for name in ("Beta Cloud", "alpine Systems", "Alpha Cloud"):
        org = await partner(client, db, settings, operator, program="indirect_provider")
        await session.execute(
            update(PartnerAccount)
            .where(PartnerAccount.tenant_id == uuid.UUID(org.id))
            .values(company_name=name, company_name_lower=name.lower())
        )
    page = (await client.get("/api/v1/providers", params={"q": "ALP"})).json()
    assert [p["company_name"] for p in page["items"]] == ["Alpha Cloud", "alpine Systems"]
    taiwan = (await client.get("/api/v1/providers", params={"country": "tw"})).json()
    assert len(taiwan["items"]) == 3
    japan = (await client.get("/api/v1/providers", params={"country": "JP"})).json()
    assert japan["items"] == []
    first = (await client.get("/api/v1/providers", params={"limit": 2})).json()
    second = (
        await client.get("/api/v1/providers", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    names = [p["company_name"] for p in first["items"] + second["items"]]
    assert names == ["Alpha Cloud", "alpine Systems", "Beta Cloud"]
    assert second["next_cursor"] is None
