"""Customer invitations, acceptance, the Customers list, and who sees which customer."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests import html
from tests.channel.helpers import approved
from tests.customers.helpers import (
    accept_as_customer,
    customer_of,
    invite_customer,
    token,
)
from tests.enrollment.helpers import deliver
from tests.factories import Org, make_org, make_user, sign_in
from twotier.audit.models import AuditRecord
from twotier.config import Settings
from twotier.kit import clock
from twotier.kit.db import Database


async def test_two_tier_invitation_asks_for_default_access_and_names_both(
    client: httpx.AsyncClient, pair: tuple[Org, Org, str, str]
) -> None:
    _provider, reseller, provider_id, _reseller_id = pair
    invitation = await invite_customer(client, reseller, provider_id)
    assert invitation["kind"] == "two_tier"
    assert invitation["access"] == {
        "roles": ["helpdesk_admin", "license_admin", "user_admin"],
        "duration_days": 365,
    }
    assert invitation["indirect_provider"]["id"] == provider_id
    assert invitation["invite_url"] in invitation["draft_email"]["body"]
    view = (await client.get(f"/api/v1/invitations/{token(invitation)}")).json()
    assert view["kind"] == "customer"
    assert [g["to"] for g in view["grants"]] == ["Fabrikam Resellers", "Contoso Distribution"]
    assert "may submit orders on your behalf" in view["consent_text"]


async def test_access_is_bounded(
    client: httpx.AsyncClient, pair: tuple[Org, Org, str, str]
) -> None:
    _p, reseller, _pid, _rid = pair
    too_long = await client.post(
        "/api/v1/customer-invitations",
        json={"access": {"roles": ["user_admin"], "duration_days": 731}},
        headers=reseller.auth,
    )
    assert too_long.status_code == 422
    explicit = await invite_customer(
        client, reseller, None, access={"roles": ["global_admin"], "duration_days": 730}
    )
    assert explicit["access"]["roles"] == ["global_admin"]


async def test_two_tier_needs_an_active_link(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    pair: tuple[Org, Org, str, str],
) -> None:
    _p, reseller, _pid, _rid = pair
    stranger = await approved(client, db, settings, operator, "indirect_provider")
    stranger_id = (await client.get("/api/v1/partner", headers=stranger.auth)).json()["id"]
    response = await client.post(
        f"/api/v1/indirect-providers/{stranger_id}/customer-invitations",
        json={},
        headers=reseller.auth,
    )
    assert response.status_code == 404
    assert response.json()["code"] == "link_not_found"


async def test_link_ended_before_acceptance_refuses_the_two_tier_invitation(
    client: httpx.AsyncClient, pair: tuple[Org, Org, str, str]
) -> None:
    _p, reseller, provider_id, _rid = pair
    invitation = await invite_customer(client, reseller, provider_id)
    await client.delete(f"/api/v1/indirect-providers/{provider_id}", headers=reseller.auth)
    customer = await make_org(client)
    response = await accept_as_customer(client, customer, invitation)
    assert response.status_code == 409
    assert response.json()["code"] == "indirect_link_inactive"


async def test_only_the_customers_global_admin_accepts(
    client: httpx.AsyncClient, pair: tuple[Org, Org, str, str]
) -> None:
    _p, reseller, provider_id, _rid = pair
    invitation = await invite_customer(client, reseller, provider_id)
    customer = await make_org(client)
    _u, user_token = await make_user(client, customer, ["user_admin"])
    response = await client.post(
        f"/api/v1/invitations/{token(invitation)}/accept",
        json={"authorize": True},
        headers={"Authorization": f"Bearer {user_token}"},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "global_admin_required"
    assert "global admin" in response.json()["detail"]


async def test_acceptance_creates_both_relationships_and_grants(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    session: AsyncSession,
    pair: tuple[Org, Org, str, str],
) -> None:
    provider, reseller, provider_id, reseller_id = pair
    customer = await make_org(client, name="Northwind Traders")
    invitation = await invite_customer(client, reseller, provider_id)
    response = await accept_as_customer(client, customer, invitation)
    assert response.status_code == 200
    assert [r["tier"] for r in response.json()["relationships"]] == ["reseller", "provider"]
    seen_by_reseller = (await client.get("/api/v1/customers", headers=reseller.auth)).json()
    [row] = seen_by_reseller["items"]
    assert row["id"] == customer.id
    assert row["company_name"] == "Northwind Traders"
    assert row["relationship"]["kind"] == "two_tier"
    assert row["relationship"]["indirect_provider"]["id"] == provider_id
    seen_by_provider = (await client.get("/api/v1/customers", headers=provider.auth)).json()
    assert seen_by_provider["items"][0]["relationship"]["indirect_reseller"]["id"] == reseller_id
    shared = await client.get(
        f"/api/v1/indirect-providers/{provider_id}/customers", headers=reseller.auth
    )
    assert [c["id"] for c in shared.json()["items"]] == [customer.id]
    access = (
        await client.get(f"/api/v1/customers/{customer.id}/delegated-access", headers=reseller.auth)
    ).json()["items"]
    assert access[0]["roles"] == ["helpdesk_admin", "license_admin", "user_admin"]
    assert access[0]["status"] == "active"
    mine = (await client.get("/api/v1/my/partners", headers=customer.auth)).json()["items"]
    assert sorted(p["partner"]["id"] for p in mine) == sorted([provider_id, reseller_id])
    await deliver(db, settings)
    ops = set((await session.scalars(select(AuditRecord.operation))).all())
    assert "indirect_reseller_relationship_accepted" in ops


async def test_provider_sees_two_tier_customers_only(
    client: httpx.AsyncClient, pair: tuple[Org, Org, str, str]
) -> None:
    provider, reseller, _pid, _rid = pair
    direct = await customer_of(client, reseller, None, name="Direct Only Ltd")
    listed = (await client.get("/api/v1/customers", headers=provider.auth)).json()["items"]
    assert direct.id not in [c["id"] for c in listed]
    for method, path in (
        ("GET", f"/api/v1/customers/{direct.id}"),
        ("GET", f"/api/v1/customers/{direct.id}/delegated-access"),
        ("DELETE", f"/api/v1/customers/{direct.id}/relationship"),
        ("GET", f"/api/v1/customers/{direct.id}/users"),
    ):
        response = await client.request(method, path, headers=provider.auth)
        assert response.status_code == 404, path
    mine = (await client.get(f"/api/v1/customers/{direct.id}", headers=reseller.auth)).json()
    assert mine["relationship"]["kind"] == "direct"


async def test_accepting_another_partner_adds_never_replaces(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    pair: tuple[Org, Org, str, str],
) -> None:
    _provider, reseller, _pid, _rid = pair
    customer = await customer_of(client, reseller)
    other = await approved(client, db, settings, operator, "indirect_reseller")
    second = await invite_customer(client, other)
    assert (await accept_as_customer(client, customer, second)).status_code == 200
    partners = (await client.get("/api/v1/my/partners", headers=customer.auth)).json()["items"]
    assert len(partners) == 2
    first = (await client.get("/api/v1/my/partners?limit=1", headers=customer.auth)).json()
    rest = (
        await client.get(
            "/api/v1/my/partners",
            params={"limit": 1, "cursor": first["next_cursor"]},
            headers=customer.auth,
        )
    ).json()
    assert [p["partner"]["id"] for p in first["items"] + rest["items"]] == [
        p["partner"]["id"] for p in partners
    ]
    assert rest["next_cursor"] is None


async def test_customer_revokes_and_the_next_request_is_404(
    client: httpx.AsyncClient, pair: tuple[Org, Org, str, str]
) -> None:
    _provider, reseller, _pid, reseller_id = pair
    customer = await customer_of(client, reseller)
    assert (
        await client.get(f"/api/v1/customers/{customer.id}", headers=reseller.auth)
    ).status_code == 200
    revoked = await client.delete(f"/api/v1/my/partners/{reseller_id}", headers=customer.auth)
    assert revoked.status_code == 204
    after = await client.get(f"/api/v1/customers/{customer.id}", headers=reseller.auth)
    assert after.status_code == 404
    users = await client.get(f"/api/v1/customers/{customer.id}/users", headers=reseller.auth)
    assert users.status_code == 404
    again = await client.delete(f"/api/v1/my/partners/{reseller_id}", headers=customer.auth)
    assert again.status_code == 404


async def test_search_by_prefix_pages_without_duplicates_or_gaps(
    client: httpx.AsyncClient, pair: tuple[Org, Org, str, str]
) -> None:
    _provider, reseller, _pid, _rid = pair
    for name in ("Alpha Foods", "alpine Tools", "Beta Ltd"):
        await customer_of(client, reseller, None, name=name)
    found = (
        await client.get("/api/v1/customers", params={"q": "ALP"}, headers=reseller.auth)
    ).json()["items"]
    assert sorted(c["company_name"] for c in found) == ["Alpha Foods", "alpine Tools"]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/customers", params=params, headers=reseller.auth)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 3


async def test_an_expired_grant_stops_delegated_work_without_a_job(
    client: httpx.AsyncClient, pair: tuple[Org, Org, str, str]
) -> None:
    _provider, reseller, _pid, _rid = pair
    customer = await customer_of(
        client, reseller, None, access={"roles": ["user_admin"], "duration_days": 1}
    )
    ok = await client.get(f"/api/v1/customers/{customer.id}/users", headers=reseller.auth)
    assert ok.status_code == 403  # helpdesk_admin was not granted
    body = {
        "email": f"new@{customer.tenant['domain']}",
        "display_name": "N",
        "password": "long-enough-1",
        "roles": [],
    }
    made = await client.post(
        f"/api/v1/customers/{customer.id}/users", json=body, headers=reseller.auth
    )
    assert made.status_code == 201
    clock.travel(24 * 3600 + 5)
    reseller.token = await sign_in(client, reseller.email, reseller.password)
    body["email"] = f"later@{customer.tenant['domain']}"
    late = await client.post(
        f"/api/v1/customers/{customer.id}/users", json=body, headers=reseller.auth
    )
    assert late.status_code == 403
    assert late.json()["code"] == "delegated_access_missing"
    access = (
        await client.get(f"/api/v1/customers/{customer.id}/delegated-access", headers=reseller.auth)
    ).json()["items"]
    assert access[0]["status"] == "expired"


async def test_view_customers_page_lists_the_shared_customer(
    client: httpx.AsyncClient, pair: tuple[Org, Org, str, str]
) -> None:
    from tests.directory.test_portal_session import portal_sign_in

    _provider, reseller, provider_id, _rid = pair
    await customer_of(client, reseller, provider_id, name="Shared Shop Ltd")
    await customer_of(client, reseller, None, name="Mine Only Ltd")
    await portal_sign_in(client, reseller.email, reseller.password)
    page = await client.get(f"/indirect-providers/{provider_id}/customers")
    shared = html.column(page.text, html.testid("customers"))
    assert "Shared Shop Ltd" in shared
    assert "Mine Only Ltd" not in shared
    mine = await client.get("/customers")
    assert "Mine Only Ltd" in html.column(mine.text, html.testid("customers"))


async def test_customer_accepts_in_the_portal_and_removes_the_partner(
    client: httpx.AsyncClient, pair: tuple[Org, Org, str, str]
) -> None:
    from tests.directory.test_portal_session import csrf_from, portal_sign_in

    _provider, reseller, provider_id, reseller_id = pair
    invitation = await invite_customer(client, reseller, provider_id)
    path = f"/invitations/{token(invitation)}"
    signed_out = await client.get(path)
    assert "Fabrikam Resellers" in signed_out.text
    assert "Contoso Distribution" in signed_out.text
    assert "User admin" in signed_out.text
    assert f'href="/signup?next={path}"' in signed_out.text
    customer = await make_org(client, name="Portal Customer Ltd")
    helper, _t = await make_user(client, customer, ["user_admin"])
    await portal_sign_in(client, helper["email"], "correct horse battery")
    not_admin = await client.get(path)
    assert "Only your organization&#39;s global admin" in not_admin.text
    client.cookies.clear()
    await portal_sign_in(client, customer.email, customer.password)
    page = await client.get(path)
    accepted = await client.post(
        path, data={"csrf_token": csrf_from(page.text), "authorize": "true"}
    )
    assert accepted.status_code == 303
    partners = await client.get(accepted.headers["location"])
    assert "Fabrikam Resellers" in partners.text
    assert "Contoso Distribution" in partners.text
    removed = await client.post(
        f"/partners/{reseller_id}/remove", data={"csrf_token": csrf_from(partners.text)}
    )
    assert removed.status_code == 303
    gone = await client.get(f"/api/v1/customers/{customer.id}", headers=reseller.auth)
    assert gone.status_code == 404


async def test_another_customer_cannot_remove_a_partner_it_does_not_have(
    client: httpx.AsyncClient, pair: tuple[Org, Org, str, str]
) -> None:
    from tests.directory.test_portal_session import csrf_from, portal_sign_in

    _provider, reseller, provider_id, reseller_id = pair
    customer = await customer_of(client, reseller, provider_id)
    other_customer = await make_org(client, name="Someone Else Ltd")
    await portal_sign_in(client, other_customer.email, other_customer.password)
    partners = await client.get("/partners")
    for partner_id in (reseller_id, provider_id):
        removed = await client.post(
            f"/partners/{partner_id}/remove", data={"csrf_token": csrf_from(partners.text)}
        )
        assert removed.status_code == 404, partner_id
    still = await client.get(f"/api/v1/customers/{customer.id}", headers=reseller.auth)
    assert still.status_code == 200
    access = (
        await client.get(f"/api/v1/customers/{customer.id}/delegated-access", headers=reseller.auth)
    ).json()["items"]
    assert [grant["status"] for grant in access] == ["active"]


async def test_a_reseller_cannot_use_a_customer_invitation_to_authorize(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    pair: tuple[Org, Org, str, str],
) -> None:
    _provider, reseller, _pid, _rid = pair
    invitation = await invite_customer(client, reseller)
    other_reseller = await approved(client, db, settings, operator, "indirect_reseller")
    response = await accept_as_customer(client, other_reseller, invitation)
    # It is accepted as what it is — a customer relationship — never as a provider link.
    assert response.status_code == 200
    assert response.json()["kind"] == "customer"
    links = (await client.get("/api/v1/indirect-providers", headers=other_reseller.auth)).json()
    assert links["items"] == []
