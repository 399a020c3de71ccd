"""Provider ↔ reseller invitations through the API: every rule and its code."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.channel.helpers import (
    accept,
    approved,
    invite,
    token_of,
    user_with_partner_roles,
)
from tests.enrollment.helpers import deliver, latest_mail
from tests.factories import Org, make_org, sign_in
from twotier.audit.models import AuditRecord
from twotier.config import Settings
from twotier.kit import clock
from twotier.kit.db import Database


async def test_invitation_answers_a_link_and_a_draft_containing_it(
    client: httpx.AsyncClient, pair: tuple[Org, Org]
) -> None:
    provider, _reseller = pair
    invitation = await invite(client, provider, message="Looking forward to working together.")
    assert invitation["status"] == "pending"
    assert invitation["invite_url"].startswith("http://testserver/invitations/")
    assert len(token_of(invitation)) >= 22
    draft = invitation["draft_email"]
    assert draft["to"] == "partners@fabrikam.example"
    assert invitation["invite_url"] in draft["body"]
    assert "Looking forward to working together." in draft["body"]
    assert "Contoso Distribution" in draft["subject"]
    days = (
        clock.utcnow().fromisoformat(invitation["expires_at"]) - clock.utcnow()
    ).total_seconds() / 86400
    assert 29.9 < days <= 30


async def test_sales_agent_may_invite_helpdesk_agent_may_not(
    client: httpx.AsyncClient, pair: tuple[Org, Org]
) -> None:
    provider, _reseller = pair
    sales = await user_with_partner_roles(client, provider, ["sales_agent"])
    helpdesk = await user_with_partner_roles(client, provider, ["helpdesk_agent"])
    body = {"email": "x@fabrikam.example"}
    allowed = await client.post("/api/v1/reseller-invitations", json=body, headers=sales)
    assert allowed.status_code == 201
    refused = await client.post("/api/v1/reseller-invitations", json=body, headers=helpdesk)
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_role"


async def test_a_reseller_cannot_invite_resellers(
    client: httpx.AsyncClient, pair: tuple[Org, Org]
) -> None:
    _provider, reseller = pair
    response = await client.post(
        "/api/v1/reseller-invitations", json={"email": "x@y.example"}, headers=reseller.auth
    )
    assert response.status_code == 403
    assert response.json()["code"] == "not_an_indirect_provider"


async def test_the_link_shows_who_invites_and_the_consent_without_changing_anything(
    client: httpx.AsyncClient, pair: tuple[Org, Org]
) -> None:
    provider, _reseller = pair
    invitation = await invite(client, provider)
    view = await client.get(f"/api/v1/invitations/{token_of(invitation)}")
    assert view.status_code == 200
    data = view.json()
    assert data["kind"] == "reseller"
    assert data["status"] == "pending"
    assert (
        data["from"]["company_name"] == "Fabrikam Cloud Resellers Ltd" or data["from"]["partner_id"]
    )
    assert "submit orders and add subscriptions on behalf of your customers" in data["consent_text"]
    assert "admin access to your tenant" in data["consent_text"]
    again = await client.get(f"/api/v1/invitations/{token_of(invitation)}")
    assert again.json()["status"] == "pending"
    unknown = await client.get("/api/v1/invitations/not-a-real-token")
    assert unknown.status_code == 404


async def test_authorizing_links_both_sides_and_records_the_grant(
    client: httpx.AsyncClient, pair: tuple[Org, Org]
) -> None:
    provider, reseller = pair
    invitation = await invite(client, provider)
    response = await accept(client, reseller, invitation)
    assert response.status_code == 200, response.text
    link = response.json()["link"]
    assert link["status"] == "active"
    providers = (await client.get("/api/v1/indirect-providers", headers=reseller.auth)).json()
    resellers = (await client.get("/api/v1/indirect-resellers", headers=provider.auth)).json()
    provider_partner = (await client.get("/api/v1/partner", headers=provider.auth)).json()
    reseller_partner = (await client.get("/api/v1/partner", headers=reseller.auth)).json()
    [p] = providers["items"]
    [r] = resellers["items"]
    assert p["id"] == provider_partner["id"]
    assert p["partner_id"] == provider_partner["partner_id"]
    assert r["id"] == reseller_partner["id"]
    assert {"id", "partner_id", "company_name", "country", "status", "since"} <= set(p)
    assert p["access"]["roles"] == ["user_admin", "license_admin", "helpdesk_admin"]
    assert p["access"]["status"] == "active"
    sent = (await client.get("/api/v1/reseller-invitations", headers=provider.auth)).json()
    [row] = sent["items"]
    assert row["status"] == "accepted"
    assert row["accepted_by"]["partner_id"] == reseller_partner["partner_id"]
    assert row["accepted_at"] is not None
    assert row["invite_url"] is None


async def test_a_used_link_is_gone(client: httpx.AsyncClient, pair: tuple[Org, Org]) -> None:
    provider, reseller = pair
    invitation = await invite(client, provider)
    assert (await accept(client, reseller, invitation)).status_code == 200
    second = await accept(client, reseller, invitation)
    assert second.status_code == 410
    assert second.json()["code"] == "invitation_used"


async def test_accepting_without_the_tick_changes_nothing(
    client: httpx.AsyncClient, pair: tuple[Org, Org]
) -> None:
    provider, reseller = pair
    invitation = await invite(client, provider)
    response = await accept(client, reseller, invitation, authorize=False)
    assert response.status_code == 422
    assert response.json()["code"] == "authorization_required"
    assert (await client.get("/api/v1/indirect-providers", headers=reseller.auth)).json()[
        "items"
    ] == []
    assert (await accept(client, reseller, invitation)).status_code == 200


async def test_revoked_and_expired_links_are_gone_with_their_codes(
    client: httpx.AsyncClient, pair: tuple[Org, Org]
) -> None:
    provider, reseller = pair
    revoked = await invite(client, provider)
    response = await client.post(
        f"/api/v1/reseller-invitations/{revoked['id']}/revoke", headers=provider.auth
    )
    assert response.json()["status"] == "revoked"
    gone = await accept(client, reseller, revoked)
    assert gone.status_code == 410
    assert gone.json()["code"] == "invitation_revoked"
    expiring = await invite(client, provider, expires_in_days=1)
    clock.travel(24 * 3600 + 5)
    reseller.token = await sign_in(client, reseller.email, reseller.password)
    provider.token = await sign_in(client, provider.email, provider.password)
    expired = await accept(client, reseller, expiring)
    assert expired.status_code == 410
    assert expired.json()["code"] == "invitation_expired"
    view = await client.get(f"/api/v1/invitations/{token_of(expiring)}")
    assert view.json()["status"] == "expired"
    listed = await client.get(
        "/api/v1/reseller-invitations", params={"status": "expired"}, headers=provider.auth
    )
    assert [i["id"] for i in listed.json()["items"]] == [expiring["id"]]


async def test_an_invitation_bound_to_a_partner_id_is_refused_to_others(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    pair: tuple[Org, Org],
) -> None:
    provider, reseller = pair
    other = await approved(client, db, settings, operator, "indirect_reseller")
    reseller_pid = (await client.get("/api/v1/partner", headers=reseller.auth)).json()["partner_id"]
    invitation = await invite(client, provider, partner_id=reseller_pid)
    refused = await accept(client, other, invitation)
    assert refused.status_code == 403
    assert refused.json()["code"] == "invitation_not_for_you"
    assert (await accept(client, reseller, invitation)).status_code == 200


async def test_only_approved_resellers_admins_authorize(
    client: httpx.AsyncClient, pair: tuple[Org, Org]
) -> None:
    provider, reseller = pair
    invitation = await invite(client, provider)
    plain = await make_org(client)
    not_reseller = await accept(client, plain, invitation)
    assert not_reseller.status_code == 403
    assert not_reseller.json()["code"] == "not_an_indirect_reseller"
    assert "/enroll" in not_reseller.json()["detail"]
    sales = await user_with_partner_roles(client, reseller, ["sales_agent"])
    as_sales = await client.post(
        f"/api/v1/invitations/{token_of(invitation)}/accept",
        json={"authorize": True},
        headers=sales,
    )
    assert as_sales.status_code == 403
    agent = await user_with_partner_roles(client, reseller, ["admin_agent"])
    as_agent = await client.post(
        f"/api/v1/invitations/{token_of(invitation)}/accept",
        json={"authorize": True},
        headers=agent,
    )
    assert as_agent.status_code == 200
    anonymous = await client.post(
        f"/api/v1/invitations/{token_of(invitation)}/accept", json={"authorize": True}
    )
    assert anonymous.status_code == 401


async def test_send_mails_the_draft_and_refuses_a_body_without_the_link(
    client: httpx.AsyncClient, db: Database, settings: Settings, pair: tuple[Org, Org]
) -> None:
    provider, _reseller = pair
    invitation = await invite(client, provider, email="owner@fabrikam.example")
    path = f"/api/v1/reseller-invitations/{invitation['id']}/send"
    lost = await client.post(
        path, json={"body": "Hi, please connect with us!"}, headers=provider.auth
    )
    assert lost.status_code == 422
    assert lost.json()["code"] == "invite_link_missing"
    edited = f"Dear Fabrikam,\n\nJoin us here: {invitation['invite_url']}\n"
    sent = await client.post(
        path, json={"subject": "Let's connect", "body": edited}, headers=provider.auth
    )
    assert sent.status_code == 202
    await deliver(db, settings)
    mail = await latest_mail(client, "owner@fabrikam.example")
    assert mail["subject"] == "Let's connect"
    assert invitation["invite_url"] in mail["body"]
    default = await client.post(path, json={}, headers=provider.auth)
    assert default.status_code == 202


async def test_another_providers_invitation_is_404(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    pair: tuple[Org, Org],
) -> None:
    provider, _reseller = pair
    invitation = await invite(client, provider)
    other = await approved(client, db, settings, operator, "indirect_provider")
    base = f"/api/v1/reseller-invitations/{invitation['id']}"
    for method, path in (("GET", base), ("POST", f"{base}/send"), ("POST", f"{base}/revoke")):
        response = await client.request(method, path, json={}, headers=other.auth)
        assert response.status_code == 404, path
    assert (await client.get("/api/v1/reseller-invitations", headers=other.auth)).json()[
        "items"
    ] == []


async def test_accepting_while_already_linked_is_a_conflict(
    client: httpx.AsyncClient, pair: tuple[Org, Org]
) -> None:
    provider, reseller = pair
    first = await invite(client, provider)
    second = await invite(client, provider)
    assert (await accept(client, reseller, first)).status_code == 200
    response = await accept(client, reseller, second)
    assert response.status_code == 409
    assert response.json()["code"] == "already_linked"
    view = await client.get(f"/api/v1/invitations/{token_of(second)}")
    assert view.json()["status"] == "pending"


async def test_every_step_is_audited(
    client: httpx.AsyncClient, session: AsyncSession, pair: tuple[Org, Org]
) -> None:
    provider, reseller = pair
    invitation = await invite(client, provider)
    await accept(client, reseller, invitation)
    provider_id = (await client.get("/api/v1/partner", headers=provider.auth)).json()["id"]
    await client.delete(f"/api/v1/indirect-providers/{provider_id}", headers=reseller.auth)
    operations = set((await session.scalars(select(AuditRecord.operation))).all())
    assert {
        "reseller_invitation_created",
        "indirect_provider_authorized",
        "indirect_link_terminated",
    } <= operations
