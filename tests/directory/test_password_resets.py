"""A tenant's own resets: helpdesk admins reach users without roles, user admins reach
admins too, and only a global admin reaches a global admin. A refusal writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import PASSWORD, make_org, make_user, sign_in
from twotier.audit.models import AuditRecord
from twotier.directory.models import TenantKind, User
from twotier.directory.passwords import ResetReach, reach_needed, reset_reach
from twotier.directory.principal import Principal, permissions_for
from twotier.directory.service import Delegation

R = ResetReach


def principal(roles: list[str], partner_roles: Sequence[str] = ()) -> Principal:
    is_partner = bool(partner_roles)
    return Principal(
        user_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        email="someone@example.test",
        display_name="Someone",
        roles=frozenset(roles),
        tenant_kind=TenantKind.organization,
        token_id=uuid.uuid4(),
        via="bearer",
        partner_account_id=uuid.uuid4() if is_partner else None,
        partner_roles=frozenset(partner_roles),
        permissions=permissions_for(
            roles, partner_roles, tenant_kind=TenantKind.organization, is_partner=is_partner
        ),
    )


@pytest.mark.parametrize(
    ("roles", "reach"),
    [
        ([], R.users),
        (["helpdesk_admin"], R.admins),
        (["license_admin", "billing_admin"], R.admins),
        (["global_admin"], R.global_admins),
        (["user_admin", "global_admin"], R.global_admins),
    ],
)
def test_the_reach_a_reset_needs(roles: list[str], reach: ResetReach) -> None:
    assert reach_needed(roles) == reach


@pytest.mark.parametrize(
    ("roles", "reach"),
    [
        ([], R.nobody),
        (["license_admin"], R.nobody),
        (["billing_admin"], R.nobody),
        (["helpdesk_admin"], R.users),
        (["user_admin"], R.admins),
        (["helpdesk_admin", "user_admin"], R.admins),
        (["global_admin"], R.global_admins),
    ],
)
def test_a_tenants_own_roles_reach(roles: list[str], reach: ResetReach) -> None:
    assert reset_reach(principal(roles), None) == reach


@pytest.mark.parametrize(
    ("partner_role", "granted", "reach"),
    [
        ("helpdesk_agent", ["helpdesk_admin"], R.users),
        ("helpdesk_agent", ["helpdesk_admin", "user_admin"], R.users),
        ("helpdesk_agent", ["user_admin"], R.nobody),
        ("helpdesk_agent", ["global_admin"], R.users),
        ("admin_agent", ["helpdesk_admin"], R.users),
        ("admin_agent", ["user_admin"], R.admins),
        ("admin_agent", ["global_admin"], R.admins),  # never a customer's global admin
        ("admin_agent", ["license_admin"], R.nobody),
        ("sales_agent", ["helpdesk_admin", "user_admin"], R.nobody),
        ("billing_admin", ["global_admin"], R.nobody),
    ],
)
def test_a_partners_reach_under_a_grant(
    partner_role: str, granted: list[str], reach: ResetReach
) -> None:
    actor = principal(["global_admin"], [partner_role])  # its own tenant's roles do not count
    delegation = Delegation(customer_tenant_id=uuid.uuid4(), granted_roles=frozenset(granted))
    assert reset_reach(actor, delegation) == reach


async def stored_hash(session: AsyncSession, user_id: str) -> str | None:
    return await session.scalar(select(User.password_hash).where(User.id == uuid.UUID(user_id)))


async def reset_records(session: AsyncSession, user_id: str) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(
                AuditRecord.operation == "user_password_reset",
                AuditRecord.resource_id == str(uuid.UUID(user_id)),
            )
        )
        or 0
    )


@pytest.mark.parametrize(
    ("actor", "target", "allowed"),
    [
        ("helpdesk_admin", None, True),
        ("helpdesk_admin", "user_admin", False),
        ("helpdesk_admin", "license_admin", False),
        ("helpdesk_admin", "global_admin", False),
        ("user_admin", None, True),
        ("user_admin", "user_admin", True),
        ("user_admin", "helpdesk_admin", True),
        ("user_admin", "global_admin", False),
        ("global_admin", None, True),
        ("global_admin", "user_admin", True),
        ("global_admin", "global_admin", True),
    ],
)
async def test_directory_roles_decide_whose_password_a_colleague_resets(
    client: httpx.AsyncClient,
    session: AsyncSession,
    actor: str,
    target: str | None,
    allowed: bool,
) -> None:
    org = await make_org(client)
    _a, actor_token = await make_user(client, org, [actor])
    victim, _t = await make_user(client, org, [target] if target else [])
    before = await stored_hash(session, victim["id"])
    answer = await client.post(
        f"/api/v1/tenant/users/{victim['id']}/password-reset",
        headers={"Authorization": f"Bearer {actor_token}"},
    )
    if allowed:
        assert answer.status_code == 200, answer.text
        assert await sign_in(client, victim["email"], answer.json()["temporary_password"])
        assert await stored_hash(session, victim["id"]) != before
        assert await reset_records(session, victim["id"]) == 1
    else:
        assert answer.status_code == 403
        assert answer.json()["code"] == "insufficient_role"
        assert "temporary_password" not in answer.json()
        assert await stored_hash(session, victim["id"]) == before
        assert await reset_records(session, victim["id"]) == 0
        assert await sign_in(client, victim["email"], PASSWORD)


@pytest.mark.parametrize("actor", ["license_admin", "billing_admin", None])
async def test_roles_without_resets_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, actor: str | None
) -> None:
    org = await make_org(client)
    _a, actor_token = await make_user(client, org, [actor] if actor else [])
    victim, _t = await make_user(client, org)
    before = await stored_hash(session, victim["id"])
    answer = await client.post(
        f"/api/v1/tenant/users/{victim['id']}/password-reset",
        headers={"Authorization": f"Bearer {actor_token}"},
    )
    assert answer.status_code == 403
    assert answer.json()["code"] == "insufficient_role"
    assert await stored_hash(session, victim["id"]) == before


async def test_nobody_resets_their_own_password_this_way(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await make_org(client)
    me = (await client.get("/api/v1/me", headers=org.auth)).json()["user"]
    before = await stored_hash(session, me["id"])
    answer = await client.post(f"/api/v1/tenant/users/{me['id']}/password-reset", headers=org.auth)
    assert (answer.status_code, answer.json()["code"]) == (403, "own_password_reset")
    assert await stored_hash(session, me["id"]) == before
    assert (await client.get("/api/v1/me", headers=org.auth)).status_code == 200  # still in
    colleague, _t = await make_user(client, org)
    done = await client.post(
        f"/api/v1/tenant/users/{colleague['id']}/password-reset", headers=org.auth
    )
    assert done.status_code == 200


async def test_another_tenants_user_is_404(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    elsewhere = await make_org(client)
    stranger, _t = await make_user(client, elsewhere)
    answer = await client.post(
        f"/api/v1/tenant/users/{stranger['id']}/password-reset", headers=org.auth
    )
    assert answer.status_code == 404
    assert await sign_in(client, stranger["email"], PASSWORD)


async def test_the_reset_answers_when_the_temporary_password_expires(
    client: httpx.AsyncClient,
) -> None:
    org = await make_org(client)
    victim, _t = await make_user(client, org)
    answer = await client.post(
        f"/api/v1/tenant/users/{victim['id']}/password-reset", headers=org.auth
    )
    body = answer.json()
    assert set(body) == {"user_id", "temporary_password", "expires_at"}
    assert body["user_id"] == victim["id"]
    assert len(body["temporary_password"]) >= 16
