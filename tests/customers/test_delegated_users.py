"""Managing a customer's users on its behalf: relationship + grant + partner role, audited."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.channel.helpers import user_with_partner_roles
from tests.customers.helpers import linked_pair
from tests.factories import PASSWORD, Org, make_org, make_user, sign_in
from twotier.audit.models import AuditRecord
from twotier.config import Settings
from twotier.kit.db import Database


def user_body(
    customer: Org, name: str = "nina", roles: list[str] | None = None
) -> dict[str, object]:
    return {
        "email": f"{name}@{customer.tenant['domain']}",
        "display_name": name.title(),
        "password": PASSWORD,
        "roles": roles or [],
    }


async def test_admin_agent_adds_changes_and_removes_a_customer_user(
    client: httpx.AsyncClient, session: AsyncSession, two_tier_customer_world: tuple[Org, Org, Org]
) -> None:
    _provider, reseller, customer = two_tier_customer_world
    base = f"/api/v1/customers/{customer.id}/users"
    made = await client.post(base, json=user_body(customer), headers=reseller.auth)
    assert made.status_code == 201
    user = made.json()
    listed = (await client.get(base, headers=reseller.auth)).json()["items"]
    assert user["id"] in [u["id"] for u in listed]
    changed = await client.patch(
        f"{base}/{user['id']}", json={"roles": ["license_admin"]}, headers=reseller.auth
    )
    assert changed.json()["roles"] == ["license_admin"]
    assert await sign_in(client, str(user["email"]))
    removed = await client.delete(f"{base}/{user['id']}", headers=reseller.auth)
    assert removed.status_code == 204
    own = (await client.get("/api/v1/tenant/users", headers=customer.auth)).json()["items"]
    assert user["id"] not in [u["id"] for u in own]
    records = (
        await session.scalars(
            select(AuditRecord).where(AuditRecord.on_behalf_of_customer_id.is_not(None))
        )
    ).all()
    ops = {r.operation for r in records}
    assert {"user_created", "user_updated", "user_deleted"} <= ops
    me = (await client.get("/api/v1/me", headers=reseller.auth)).json()
    for record in records:
        assert str(record.on_behalf_of_customer_id) == customer.id
        assert str(record.actor_user_id) == me["user"]["id"]
        assert record.actor_partner_id == me["partner"]["partner_id"]


async def test_a_partner_cannot_give_a_customer_user_a_weak_password(
    client: httpx.AsyncClient, two_tier_customer_world: tuple[Org, Org, Org]
) -> None:
    _provider, reseller, customer = two_tier_customer_world
    body = user_body(customer) | {"password": "Northwind2026"}  # the customer's own name
    refused = await client.post(
        f"/api/v1/customers/{customer.id}/users", json=body, headers=reseller.auth
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "password_too_weak"
    body["password"] = "Password1!"
    refused = await client.post(
        f"/api/v1/customers/{customer.id}/users", json=body, headers=reseller.auth
    )
    assert refused.json()["detail"].startswith("This is similar to a commonly used password.")


async def test_a_global_admin_cannot_be_made_without_that_grant(
    client: httpx.AsyncClient, two_tier_customer_world: tuple[Org, Org, Org]
) -> None:
    _provider, reseller, customer = two_tier_customer_world
    response = await client.post(
        f"/api/v1/customers/{customer.id}/users",
        json=user_body(customer, roles=["global_admin"]),
        headers=reseller.auth,
    )
    assert response.status_code == 403


async def test_partner_roles_decide_who_may_act(
    client: httpx.AsyncClient, two_tier_customer_world: tuple[Org, Org, Org]
) -> None:
    _provider, reseller, customer = two_tier_customer_world
    base = f"/api/v1/customers/{customer.id}/users"
    sales = await user_with_partner_roles(client, reseller, ["sales_agent"])
    helpdesk = await user_with_partner_roles(client, reseller, ["helpdesk_agent"])
    assert (
        await client.post(base, json=user_body(customer, "s"), headers=sales)
    ).status_code == 403
    assert (
        await client.post(base, json=user_body(customer, "h"), headers=helpdesk)
    ).status_code == 403
    assert (await client.get(base, headers=helpdesk)).status_code == 200
    target = (await client.get("/api/v1/me", headers=customer.auth)).json()["user"]
    plain, _t = await make_user(client, customer)
    reset = await client.post(f"{base}/{plain['id']}/password-reset", headers=helpdesk)
    assert reset.status_code == 200
    temporary = reset.json()["temporary_password"]
    assert await sign_in(client, plain["email"], temporary)
    admin_reset = await client.post(f"{base}/{target['id']}/password-reset", headers=helpdesk)
    assert admin_reset.status_code == 403  # a global admin's password needs global admin access


async def test_the_provider_acts_under_its_own_grant(
    client: httpx.AsyncClient, two_tier_customer_world: tuple[Org, Org, Org]
) -> None:
    provider, _reseller, customer = two_tier_customer_world
    response = await client.post(
        f"/api/v1/customers/{customer.id}/users",
        json=user_body(customer, "p"),
        headers=provider.auth,
    )
    assert response.status_code == 201


async def test_strangers_get_404_for_every_customer_endpoint(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    two_tier_customer_world: tuple[Org, Org, Org],
) -> None:
    _provider, reseller, customer = two_tier_customer_world
    victim, _t = await make_user(client, customer)
    other_provider, other_reseller, _pid, _rid = await linked_pair(client, db, settings, operator)
    plain = await make_org(client)
    base = f"/api/v1/customers/{customer.id}"
    endpoints = [
        ("GET", base, None),
        ("DELETE", f"{base}/relationship", None),
        ("GET", f"{base}/delegated-access", None),
        ("GET", f"{base}/users", None),
        ("POST", f"{base}/users", user_body(customer, "x")),
        ("PATCH", f"{base}/users/{victim['id']}", {"display_name": "Hacked"}),
        ("DELETE", f"{base}/users/{victim['id']}", None),
        ("POST", f"{base}/users/{victim['id']}/password-reset", None),
    ]
    for org in (other_provider, other_reseller):
        for method, path, body in endpoints:
            response = await client.request(method, path, json=body, headers=org.auth)
            assert response.status_code == 404, (method, path)
    for method, path, body in endpoints:
        response = await client.request(method, path, json=body, headers=plain.auth)
        assert response.status_code in (403, 404), (method, path)
        assert response.status_code != 200
    reseller_id = (await client.get("/api/v1/partner", headers=reseller.auth)).json()["id"]
    other_customer = await make_org(client)
    revoke = await client.delete(f"/api/v1/my/partners/{reseller_id}", headers=other_customer.auth)
    assert revoke.status_code == 404
    # The refused revoke changed nothing: the customer's own reseller still reaches its users.
    still = await client.get(f"{base}/users", headers=reseller.auth)
    assert still.status_code == 200
    assert victim["id"] in [u["id"] for u in still.json()["items"]]


async def test_another_customers_user_is_404_under_a_valid_grant(
    client: httpx.AsyncClient, two_tier_customer_world: tuple[Org, Org, Org]
) -> None:
    _provider, reseller, customer = two_tier_customer_world
    elsewhere = await make_org(client)
    stranger, _t = await make_user(client, elsewhere)
    response = await client.patch(
        f"/api/v1/customers/{customer.id}/users/{stranger['id']}",
        json={"display_name": "Nope"},
        headers=reseller.auth,
    )
    assert response.status_code == 404
