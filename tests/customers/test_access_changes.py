"""Least privilege after the fact: drop roles; extensions only with the customer's approval."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tests.customers.helpers import customer_of, linked_pair
from tests.enrollment.helpers import deliver, latest_mail
from tests.factories import Org, make_user
from twotier.config import Settings
from twotier.customers.models import CustomerRelationship, search_key
from twotier.directory.models import Tenant
from twotier.kit import clock
from twotier.kit.clock import utcnow
from twotier.kit.db import Database


async def grant_of(client: httpx.AsyncClient, reseller: Org, customer: Org) -> dict[str, object]:
    [grant] = (
        await client.get(f"/api/v1/customers/{customer.id}/delegated-access", headers=reseller.auth)
    ).json()["items"]
    return dict(grant)


async def test_partner_drops_roles_and_loses_them_at_once(
    client: httpx.AsyncClient, direct_customer_world: tuple[Org, Org, str]
) -> None:
    reseller, customer, _rid = direct_customer_world
    grant = await grant_of(client, reseller, customer)
    path = f"/api/v1/customers/{customer.id}/delegated-access/{grant['id']}/drop-roles"
    response = await client.post(path, json={"roles": ["user_admin"]}, headers=reseller.auth)
    assert response.status_code == 200
    assert response.json()["roles"] == ["helpdesk_admin", "license_admin"]
    body = {
        "email": f"x@{customer.tenant['domain']}",
        "display_name": "X",
        "password": "long-enough-1",
        "roles": [],
    }
    refused = await client.post(
        f"/api/v1/customers/{customer.id}/users", json=body, headers=reseller.auth
    )
    assert refused.status_code == 403
    again = await client.post(path, json={"roles": ["user_admin"]}, headers=reseller.auth)
    assert again.status_code == 422
    assert again.json()["code"] == "role_not_granted"
    last = await client.post(
        path, json={"roles": ["helpdesk_admin", "license_admin"]}, headers=reseller.auth
    )
    assert last.json()["status"] == "revoked"


async def test_extension_needs_the_customers_approval(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    direct_customer_world: tuple[Org, Org, str],
) -> None:
    reseller, customer, _rid = direct_customer_world
    grant = await grant_of(client, reseller, customer)
    asked = await client.post(
        f"/api/v1/customers/{customer.id}/delegated-access/{grant['id']}/extension-request",
        json={"duration_days": 700},
        headers=reseller.auth,
    )
    assert asked.json()["extension_requested_days"] == 700
    assert asked.json()["expires_at"] == grant["expires_at"]  # nothing changes yet
    await deliver(db, settings)
    mail = await latest_mail(client, customer.email)
    assert "extend" in mail["subject"]
    _u, plain_token = await make_user(client, customer, ["user_admin"])
    not_admin = await client.post(
        f"/api/v1/my/grants/{grant['id']}/extension/approve",
        headers={"Authorization": f"Bearer {plain_token}"},
    )
    assert not_admin.status_code == 403
    approved = await client.post(
        f"/api/v1/my/grants/{grant['id']}/extension/approve", headers=customer.auth
    )
    assert approved.status_code == 200
    days_left = (clock.utcnow().fromisoformat(approved.json()["expires_at"]) - utcnow()).days
    assert 698 <= days_left <= 700
    assert approved.json()["extension_requested_days"] is None
    twice = await client.post(
        f"/api/v1/my/grants/{grant['id']}/extension/approve", headers=customer.auth
    )
    assert twice.status_code == 409


async def test_extension_bounds_and_decline(
    client: httpx.AsyncClient, direct_customer_world: tuple[Org, Org, str]
) -> None:
    reseller, customer, _rid = direct_customer_world
    grant = await grant_of(client, reseller, customer)
    path = f"/api/v1/customers/{customer.id}/delegated-access/{grant['id']}/extension-request"
    too_long = await client.post(path, json={"duration_days": 731}, headers=reseller.auth)
    assert too_long.status_code == 422
    await client.post(path, json={"duration_days": 30}, headers=reseller.auth)
    declined = await client.post(
        f"/api/v1/my/grants/{grant['id']}/extension/decline", headers=customer.auth
    )
    assert declined.json()["expires_at"] == grant["expires_at"]


async def test_grants_are_404_to_strangers(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    direct_customer_world: tuple[Org, Org, str],
) -> None:
    reseller, customer, _rid = direct_customer_world
    grant = await grant_of(client, reseller, customer)
    _p, other_reseller, _pid, _r = await linked_pair(client, db, settings, operator)
    other_customer = await customer_of(client, other_reseller, None, name="Other Customer")
    drop = await client.post(
        f"/api/v1/customers/{customer.id}/delegated-access/{grant['id']}/drop-roles",
        json={"roles": ["user_admin"]},
        headers=other_reseller.auth,
    )
    assert drop.status_code == 404
    wrong_pair = await client.post(
        f"/api/v1/customers/{other_customer.id}/delegated-access/{grant['id']}/drop-roles",
        json={"roles": ["user_admin"]},
        headers=other_reseller.auth,
    )
    assert wrong_pair.status_code == 404
    decide = await client.post(
        f"/api/v1/my/grants/{grant['id']}/extension/approve", headers=other_customer.auth
    )
    assert decide.status_code == 404
    ask = await client.post(
        f"/api/v1/customers/{customer.id}/delegated-access/{grant['id']}/extension-request",
        json={"duration_days": 30},
        headers=other_reseller.auth,
    )
    assert ask.status_code == 404
    ask_wrong_pair = await client.post(
        f"/api/v1/customers/{other_customer.id}/delegated-access/{grant['id']}/extension-request",
        json={"duration_days": 30},
        headers=other_reseller.auth,
    )
    assert ask_wrong_pair.status_code == 404
    assert (await grant_of(client, reseller, customer))["extension_requested_days"] is None
    # a real request is pending: a stranger still cannot decline it, and it stays pending
    asked = await client.post(
        f"/api/v1/customers/{customer.id}/delegated-access/{grant['id']}/extension-request",
        json={"duration_days": 30},
        headers=reseller.auth,
    )
    assert asked.status_code == 200
    decline = await client.post(
        f"/api/v1/my/grants/{grant['id']}/extension/decline", headers=other_customer.auth
    )
    assert decline.status_code == 404
    approve = await client.post(
        f"/api/v1/my/grants/{grant['id']}/extension/approve", headers=other_customer.auth
    )
    assert approve.status_code == 404
    after = await grant_of(client, reseller, customer)
    assert after["extension_requested_days"] == 30
    assert after["expires_at"] == grant["expires_at"]
    assert after["roles"] == grant["roles"]


async def test_customers_page_through_250_without_duplicates_or_gaps(
    client: httpx.AsyncClient, session: AsyncSession, direct_customer_world: tuple[Org, Org, str]
) -> None:
    reseller, _customer, reseller_id = direct_customer_world
    now = utcnow()
    tenants = [
        {
            "id": uuid.uuid4(),
            "display_name": f"Bulk Customer {i:03d}",
            "domain": f"bulk-{i:03d}-{uuid.uuid4().hex[:6]}.example",
            "country": "TW",
            "kind": "organization",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(250)
    ]
    await session.execute(insert(Tenant), tenants)
    await session.execute(
        insert(CustomerRelationship),
        [
            {
                "id": uuid.uuid4(),
                "customer_tenant_id": t["id"],
                "partner_account_id": uuid.UUID(reseller_id),
                "kind": "direct",
                "tier": "reseller",
                "status": "active",
                "active_pair": f"{reseller_id}:{t['id']}",
                "search_name": search_key(str(t["display_name"])),
                "search_domain": search_key(str(t["domain"])),
                "created_at": now,
            }  # identical timestamps: the id breaks ties
            for t in tenants
        ],
    )
    await session.flush()
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "40", "q": "bulk"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/customers", params=params, headers=reseller.auth)).json()
        seen += [c["id"] for c in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 7
    assert len(seen) == len(set(seen)) == 250
    assert set(seen) == {str(t["id"]) for t in tenants}


async def test_the_portal_way_ask_approve_and_see_the_activity(
    client: httpx.AsyncClient, direct_customer_world: tuple[Org, Org, str]
) -> None:
    from tests.directory.test_portal_session import csrf_from, portal_sign_in
    from tests.factories import PASSWORD

    reseller, customer, _rid = direct_customer_world
    grant = await grant_of(client, reseller, customer)
    body = {
        "email": f"ops@{customer.tenant['domain']}",
        "display_name": "Ops",
        "password": PASSWORD,
        "roles": [],
    }
    assert (
        await client.post(
            f"/api/v1/customers/{customer.id}/users", json=body, headers=reseller.auth
        )
    ).status_code == 201
    await portal_sign_in(client, reseller.email, reseller.password)
    record = await client.get(f"/customers/{customer.id}")
    assert "Ask to extend" in record.text
    asked = await client.post(
        f"/customers/{customer.id}/grants/{grant['id']}/extend",
        data={"csrf_token": csrf_from(record.text), "duration_days": "200"},
    )
    assert asked.status_code == 303
    record = await client.get(asked.headers["location"])
    assert "Extension of 200 days requested" in record.text
    dropped = await client.post(
        f"/customers/{customer.id}/grants/{grant['id']}/drop-roles",
        data={"csrf_token": csrf_from(record.text), "drop_roles": ["license_admin"]},
    )
    assert dropped.status_code == 303
    client.cookies.clear()
    await portal_sign_in(client, customer.email, customer.password)
    partners = await client.get("/partners")
    assert "asks to extend this access by 200 days" in partners.text
    assert f"ops@{customer.tenant['domain']}" in partners.text  # the partner's action, shown
    assert "user_created" in partners.text
    approved = await client.post(
        f"/partners/grants/{grant['id']}/extension/approve",
        data={"csrf_token": csrf_from(partners.text)},
    )
    assert approved.status_code == 303
    after = (
        await client.get(f"/api/v1/customers/{customer.id}/delegated-access", headers=reseller.auth)
    ).json()["items"][0]
    assert after["extension_requested_days"] is None
    assert after["roles"] == ["helpdesk_admin", "user_admin"]


async def test_the_portal_way_is_404_to_another_customer(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    direct_customer_world: tuple[Org, Org, str],
) -> None:
    from tests.directory.test_portal_session import csrf_from, portal_sign_in

    reseller, customer, reseller_id = direct_customer_world
    grant = await grant_of(client, reseller, customer)
    asked = await client.post(
        f"/api/v1/customers/{customer.id}/delegated-access/{grant['id']}/extension-request",
        json={"duration_days": 200},
        headers=reseller.auth,
    )
    assert asked.status_code == 200
    _p, other_reseller, _pid, _r = await linked_pair(client, db, settings, operator)
    other_customer = await customer_of(client, other_reseller, None, name="Other Customer")
    await portal_sign_in(client, other_customer.email, other_customer.password)
    csrf = csrf_from((await client.get("/partners")).text)
    for decision in ("approve", "decline"):
        decided = await client.post(
            f"/partners/grants/{grant['id']}/extension/{decision}", data={"csrf_token": csrf}
        )
        assert decided.status_code == 404, decision
    removed = await client.post(f"/partners/{reseller_id}/remove", data={"csrf_token": csrf})
    assert removed.status_code == 404
    after = await grant_of(client, reseller, customer)
    assert after["status"] == "active"
    assert after["extension_requested_days"] == 200
    assert after["expires_at"] == grant["expires_at"]
