"""A partner resetting a customer user's password: a helpdesk agent under a helpdesk_admin
grant reaches users without roles; an admin agent under a user_admin grant reaches admins
too; nobody but the customer's own global admin reaches a global admin. Refusals write
nothing: the stored hash stays and no audit record is written."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests import html
from tests.customers.helpers import customer_of
from tests.directory.test_portal_session import csrf_from, portal_sign_in
from tests.factories import PASSWORD, Org, make_user, sign_in
from twotier.audit.models import AuditRecord
from twotier.directory.models import User

Pair = tuple[Org, Org, str, str]


async def agent(client: httpx.AsyncClient, reseller: Org, role: str) -> dict[str, Any]:
    """A user of the reseller holding one partner role; its email and auth headers."""
    user, token = await make_user(client, reseller)
    answer = await client.put(
        f"/api/v1/partner/users/{user['id']}/roles",
        json={"partner_roles": [role]},
        headers=reseller.auth,
    )
    assert answer.status_code == 200, answer.text
    return user | {"auth": {"Authorization": f"Bearer {token}"}}


async def customer_granting(
    client: httpx.AsyncClient, pair: Pair, roles: list[str]
) -> tuple[Org, dict[str, dict[str, Any]]]:
    """A customer of the reseller granting ``roles``, with a user per directory role."""
    _provider, reseller, provider_id, _rid = pair
    customer = await customer_of(
        client, reseller, provider_id, access={"roles": roles, "duration_days": 30}
    )
    me = (await client.get("/api/v1/me", headers=customer.auth)).json()["user"]
    users = {"global_admin": me | {"password": customer.password}}
    for role in ("user_admin", "license_admin", None):
        user, _token = await make_user(client, customer, [role] if role else [])
        users[role or "plain"] = user
    return customer, users


async def stored_hash(session: AsyncSession, user_id: str) -> str | None:
    return await session.scalar(select(User.password_hash).where(User.id == uuid.UUID(user_id)))


async def reset_records(session: AsyncSession, user_id: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(AuditRecord)
        .where(
            AuditRecord.operation == "user_password_reset",
            AuditRecord.resource_id == str(uuid.UUID(user_id)),
        )
    )
    return int(count or 0)


async def attempt(
    client: httpx.AsyncClient,
    session: AsyncSession,
    customer: Org,
    user: dict[str, Any],
    auth: dict[str, str],
    *,
    allowed: bool,
    code: str = "insufficient_role",
) -> None:
    before = await stored_hash(session, user["id"])
    answer = await client.post(
        f"/api/v1/customers/{customer.id}/users/{user['id']}/password-reset", headers=auth
    )
    if allowed:
        assert answer.status_code == 200, answer.text
        assert await stored_hash(session, user["id"]) != before
        assert await reset_records(session, user["id"]) == 1
        temporary = answer.json()["temporary_password"]
        token = await sign_in(client, user["email"], temporary)
        due = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert due.status_code == 403
        assert due.json()["code"] == "password_change_required"
    else:
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == code
        assert await stored_hash(session, user["id"]) == before
        assert await reset_records(session, user["id"]) == 0
        assert await sign_in(client, user["email"], user.get("password", PASSWORD))


async def test_a_helpdesk_agent_resets_only_users_without_roles(
    client: httpx.AsyncClient, session: AsyncSession, pair: Pair
) -> None:
    customer, users = await customer_granting(client, pair, ["helpdesk_admin", "user_admin"])
    helpdesk = (await agent(client, pair[1], "helpdesk_agent"))["auth"]
    await attempt(client, session, customer, users["plain"], helpdesk, allowed=True)
    await attempt(client, session, customer, users["user_admin"], helpdesk, allowed=False)
    await attempt(client, session, customer, users["license_admin"], helpdesk, allowed=False)
    await attempt(client, session, customer, users["global_admin"], helpdesk, allowed=False)


async def test_an_admin_agent_under_user_admin_resets_admins_but_not_a_global_admin(
    client: httpx.AsyncClient, session: AsyncSession, pair: Pair
) -> None:
    customer, users = await customer_granting(client, pair, ["user_admin"])
    admin_agent = pair[1].auth  # the reseller's admin is an admin agent
    await attempt(client, session, customer, users["user_admin"], admin_agent, allowed=True)
    await attempt(client, session, customer, users["license_admin"], admin_agent, allowed=True)
    await attempt(client, session, customer, users["plain"], admin_agent, allowed=True)
    await attempt(client, session, customer, users["global_admin"], admin_agent, allowed=False)


async def test_an_admin_agent_under_helpdesk_admin_alone_resets_only_users_without_roles(
    client: httpx.AsyncClient, session: AsyncSession, pair: Pair
) -> None:
    customer, users = await customer_granting(client, pair, ["helpdesk_admin"])
    admin_agent = pair[1].auth
    await attempt(client, session, customer, users["plain"], admin_agent, allowed=True)
    await attempt(client, session, customer, users["user_admin"], admin_agent, allowed=False)


async def test_even_a_global_admin_grant_does_not_reach_the_customers_global_admins(
    client: httpx.AsyncClient, session: AsyncSession, pair: Pair
) -> None:
    customer, users = await customer_granting(client, pair, ["global_admin"])
    admin_agent = pair[1].auth
    await attempt(client, session, customer, users["global_admin"], admin_agent, allowed=False)
    await attempt(client, session, customer, users["user_admin"], admin_agent, allowed=True)
    own = await client.post(
        f"/api/v1/tenant/users/{users['user_admin']['id']}/password-reset",
        headers=customer.auth,
    )
    assert own.status_code == 200  # the customer's own global admin still can


async def test_a_helpdesk_agent_needs_a_helpdesk_admin_grant(
    client: httpx.AsyncClient, session: AsyncSession, pair: Pair
) -> None:
    customer, users = await customer_granting(client, pair, ["user_admin"])
    helpdesk = (await agent(client, pair[1], "helpdesk_agent"))["auth"]
    await attempt(
        client,
        session,
        customer,
        users["plain"],
        helpdesk,
        allowed=False,
        code="delegated_access_missing",
    )
    sales = (await agent(client, pair[1], "sales_agent"))["auth"]
    await attempt(client, session, customer, users["plain"], sales, allowed=False)


async def test_the_record_page_offers_a_helpdesk_agent_only_the_resets_it_may_do(
    client: httpx.AsyncClient, session: AsyncSession, pair: Pair
) -> None:
    customer, users = await customer_granting(client, pair, ["helpdesk_admin", "user_admin"])
    helpdesk = await agent(client, pair[1], "helpdesk_agent")
    await portal_sign_in(client, helpdesk["email"], PASSWORD)
    path = f"/customers/{customer.id}"
    page = await client.get(path)
    assert page.status_code == 200
    offered = set(re.findall(rf"{path}/users/([0-9a-f-]+)/reset-password", page.text))
    assert offered == {users["plain"]["id"]}
    assert "own global admin resets this password" in page.text
    assert "needs a user admin grant and the admin agent role" in page.text

    admin = users["user_admin"]
    before = await stored_hash(session, admin["id"])
    refused = await client.post(
        f"{path}/users/{admin['id']}/reset-password", data={"csrf_token": csrf_from(page.text)}
    )
    assert refused.status_code == 403
    assert "needs the user admin role" in refused.text
    assert not html.exists(refused.text, "#temporary-password")
    assert await stored_hash(session, admin["id"]) == before
    done = await client.post(
        f"{path}/users/{users['plain']['id']}/reset-password",
        data={"csrf_token": csrf_from(page.text)},
    )
    assert done.status_code == 200
    assert html.exists(done.text, "#temporary-password")
    assert "they must choose a new password when they sign in" in done.text
