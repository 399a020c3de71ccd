from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Org, enrollment_body, make_org, make_user, unique
from twotier.config import Settings
from twotier.directory import service as directory
from twotier.directory.auth import principal_for_token
from twotier.directory.models import TokenKind
from twotier.directory.schemas import PartnerRolesIn
from twotier.enrollment import service as enrollments
from twotier.enrollment.schemas import EnrollmentCreate
from twotier.kit.db import Database
from twotier.kit.email import EMAIL
from twotier.kit.outbox import PENDING, OutboxMessage
from twotier.membership import service as membership
from twotier.membership.models import MembershipOrganization
from twotier.membership.schemas import MembershipCreate, OrganizationIn

MEMBER_PASSWORD = "lantern-orchard-velvet-93"


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
    """An approved partner whose global admin is also an admin agent.

    Set up through the services (the enrollment flow itself is tested over HTTP in
    tests/enrollment): membership, enrollment, the emailed confirmation, approval, roles.
    """
    org = await make_org(client, name=name)
    company = name or "Fabrikam Cloud Resellers Ltd"
    username = unique("member")
    async with db.write_sessions() as session, session.begin():
        admin = await principal_for_token(session, org.token, TokenKind.api)
        ops = await principal_for_token(
            session, operator["Authorization"].split(" ", 1)[1], TokenKind.api
        )
        assert admin is not None
        assert ops is not None
        account = await membership.create_membership(
            session,
            MembershipCreate(
                username=username,
                password=MEMBER_PASSWORD,
                organizations=[OrganizationIn(legal_name=company, country="TW")],
            ),
        )
        await session.flush()
        partner_id = await session.scalar(
            select(MembershipOrganization.partner_id).where(
                MembershipOrganization.account_id == account.id
            )
        )
        body = enrollment_body(
            {"username": username, "password": MEMBER_PASSWORD, "organizations": []},
            program=program,
            partner_id=partner_id,
            company=company,
        )
        enrollment = await enrollments.create(
            session, settings, admin, EnrollmentCreate.model_validate(body), "127.0.0.1"
        )
        await session.flush()
        token = await _confirmation_token(session, body["primary_contact"]["email"])
        await enrollments.verify_email(session, settings, token)
        await enrollments.approve(session, settings, ops, enrollment.id)
        await session.flush()
        refreshed = await principal_for_token(session, org.token, TokenKind.api)
        assert refreshed is not None
        await directory.set_partner_roles(
            session,
            refreshed,
            refreshed.user_id,
            PartnerRolesIn.model_validate({"partner_roles": ["admin_agent"]}),
        )
    return org


async def _confirmation_token(session: AsyncSession, to: str) -> str:
    """The token in the confirmation email still waiting in the outbox."""
    for message in await session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == EMAIL, OutboxMessage.status == PENDING)
    ):
        found = re.search(r"/enroll/verify\?token=([A-Za-z0-9_\-]+)", str(message.payload))
        if message.payload.get("to") == to and found:
            return found.group(1)
    raise LookupError(f"no confirmation email to {to}")


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
