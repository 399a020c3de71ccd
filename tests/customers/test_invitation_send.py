"""A customer invitation's draft, sent by twotier or revoked, over the API."""

from __future__ import annotations

import httpx

from tests.customers.helpers import invite_customer, linked_pair, token
from tests.enrollment.helpers import deliver, latest_mail
from tests.factories import Org
from twotier.config import Settings
from twotier.kit.db import Database


async def test_the_draft_is_sent_with_the_edits_and_keeps_the_link(
    client: httpx.AsyncClient, db: Database, settings: Settings, pair: tuple[Org, Org, str, str]
) -> None:
    _provider, reseller, provider_id, _rid = pair
    invitation = await invite_customer(client, reseller, provider_id)
    path = f"/api/v1/customer-invitations/{invitation['id']}"
    lost = await client.post(
        f"{path}/send", json={"subject": "Hi", "body": "no link"}, headers=reseller.auth
    )
    assert lost.status_code == 422
    assert lost.json()["code"] == "invite_link_missing"
    body = f"Dear IT,\n\nPlease accept: {invitation['invite_url']}\n"
    sent = await client.post(
        f"{path}/send", json={"subject": "Our request", "body": body}, headers=reseller.auth
    )
    assert sent.status_code == 202, sent.text
    assert sent.json()["to"] == "it@northwind.example"
    await deliver(db, settings)
    mail = await latest_mail(client, "it@northwind.example")
    assert mail["subject"] == "Our request"
    assert invitation["invite_url"] in mail["body"]
    got = (await client.get(path, headers=reseller.auth)).json()
    assert got["sent_at"] is not None
    assert got["status"] == "pending"


async def test_sending_unedited_uses_the_customer_draft(
    client: httpx.AsyncClient, db: Database, settings: Settings, pair: tuple[Org, Org, str, str]
) -> None:
    _provider, reseller, _pid, _rid = pair
    invitation = await invite_customer(client, reseller)
    sent = await client.post(
        f"/api/v1/customer-invitations/{invitation['id']}/send", json={}, headers=reseller.auth
    )
    assert sent.status_code == 202
    assert sent.json()["subject"] == invitation["draft_email"]["subject"]
    await deliver(db, settings)
    mail = await latest_mail(client, "it@northwind.example")
    assert mail["body"] == invitation["draft_email"]["body"]


async def test_an_invitation_without_an_email_cannot_be_sent(
    client: httpx.AsyncClient, pair: tuple[Org, Org, str, str]
) -> None:
    _provider, reseller, _pid, _rid = pair
    response = await client.post(
        "/api/v1/customer-invitations", json={"message": "Hi"}, headers=reseller.auth
    )
    invitation = response.json()
    sent = await client.post(
        f"/api/v1/customer-invitations/{invitation['id']}/send", json={}, headers=reseller.auth
    )
    assert sent.status_code == 422
    assert sent.json()["code"] == "invitation_has_no_email"


async def test_revoking_ends_the_link_and_cannot_be_repeated(
    client: httpx.AsyncClient, pair: tuple[Org, Org, str, str]
) -> None:
    _provider, reseller, _pid, _rid = pair
    invitation = await invite_customer(client, reseller)
    path = f"/api/v1/customer-invitations/{invitation['id']}"
    revoked = await client.post(f"{path}/revoke", headers=reseller.auth)
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["invite_url"] is None
    again = await client.post(f"{path}/revoke", headers=reseller.auth)
    assert again.status_code == 409
    send = await client.post(f"{path}/send", json={}, headers=reseller.auth)
    assert send.status_code == 409
    view = await client.get(f"/api/v1/invitations/{token(invitation)}")
    assert view.json()["status"] == "revoked"


async def test_another_partners_customer_invitation_is_404(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    pair: tuple[Org, Org, str, str],
) -> None:
    provider, reseller, _pid, _rid = pair
    invitation = await invite_customer(client, reseller)
    _other_provider, other_reseller, _p, _r = await linked_pair(client, db, settings, operator)
    path = f"/api/v1/customer-invitations/{invitation['id']}"
    for method, url in (("GET", path), ("POST", f"{path}/send"), ("POST", f"{path}/revoke")):
        response = await client.request(method, url, json={}, headers=other_reseller.auth)
        assert response.status_code == 404, (method, url)
        assert response.json()["code"] == "invitation_not_found"
    # The provider (not a reseller) may not use the reseller's invitations at all.
    refused = await client.post(f"{path}/revoke", headers=provider.auth)
    assert refused.status_code == 403
    still = (await client.get(path, headers=reseller.auth)).json()
    assert still["status"] == "pending"
    assert still["sent_at"] is None
