"""The channel's portal pages over plain HTTP (the browser test walks the same path)."""

from __future__ import annotations

import re

import httpx

from tests import html
from tests.channel.helpers import accept, approved, invite, token_of
from tests.directory.test_portal_session import csrf_from, portal_sign_in
from tests.factories import Org, make_org
from twotier.config import Settings
from twotier.kit.db import Database


async def test_provider_invites_from_the_portal_and_gets_the_draft(
    client: httpx.AsyncClient, pair: tuple[Org, Org]
) -> None:
    provider, _reseller = pair
    await portal_sign_in(client, provider.email, provider.password)
    page = await client.get("/indirect-resellers")
    assert page.status_code == 200
    assert "Invite reseller" in page.text
    created = await client.post(
        "/indirect-resellers/invite",
        data={
            "csrf_token": csrf_from(page.text),
            "email": "owner@fabrikam.example",
            "message": "Hello from Contoso",
        },
    )
    assert created.status_code == 303
    draft = await client.get(created.headers["location"])
    assert draft.status_code == 200
    link = re.search(r'id="invite-url" readonly value="([^"]+)"', draft.text)
    assert link
    assert link.group(1) in draft.text.split('id="f-body"')[1]
    lost = await client.post(
        created.headers["location"] + "/send",
        data={"csrf_token": csrf_from(draft.text), "subject": "Hi", "body": "no link here"},
    )
    assert lost.status_code == 422
    assert "keep the invitation link" in lost.text
    sent = await client.post(
        created.headers["location"] + "/send",
        data={
            "csrf_token": csrf_from(draft.text),
            "subject": "Hi",
            "body": f"Join: {link.group(1)}",
        },
    )
    assert sent.status_code == 303
    listing = await client.get(sent.headers["location"])
    assert "owner@fabrikam.example" in listing.text
    assert "Pending" in listing.text


async def test_reseller_follows_the_link_signed_out_then_authorizes(
    client: httpx.AsyncClient, pair: tuple[Org, Org]
) -> None:
    provider, reseller = pair
    invitation = await invite(client, provider)
    path = f"/invitations/{token_of(invitation)}"
    signed_out = await client.get(path)
    assert signed_out.status_code == 200
    assert "Contoso Distribution" in signed_out.text
    assert "submit orders and add subscriptions on behalf of your customers" in signed_out.text
    assert f'href="/signin?next={path}"' in signed_out.text
    await portal_sign_in(client, reseller.email, reseller.password)
    page = await client.get(path)
    assert "Authorize indirect provider" in page.text
    unticked = await client.post(path, data={"csrf_token": csrf_from(page.text)})
    assert unticked.status_code == 422
    assert "Tick the box" in unticked.text
    ticked = await client.post(path, data={"csrf_token": csrf_from(page.text), "authorize": "true"})
    assert ticked.status_code == 303
    assert ticked.headers["location"] == "/indirect-providers?notice=authorized"
    providers = await client.get(ticked.headers["location"])
    assert "Contoso Distribution" in providers.text
    assert "User admin" in providers.text
    used = await client.get(path)
    assert used.status_code == 410
    assert "already used" in used.text


async def test_a_tenant_that_is_not_a_reseller_is_led_to_enrollment(
    client: httpx.AsyncClient, pair: tuple[Org, Org]
) -> None:
    provider, reseller = pair
    invitation = await invite(client, provider)
    plain = await make_org(client)
    await portal_sign_in(client, plain.email, plain.password)
    page = await client.get(f"/invitations/{token_of(invitation)}")
    assert page.status_code == 200
    assert "Enroll as an indirect reseller" in [link.text for link in html.links(page.text)]
    assert "Authorize indirect provider" not in html.buttons(page.text)
    client.cookies.clear()
    await portal_sign_in(client, reseller.email, reseller.password)
    offered = await client.get(f"/invitations/{token_of(invitation)}")
    assert "Authorize indirect provider" in html.buttons(offered.text)


async def test_unknown_invitation_link_is_a_404_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/invitations/not-a-token")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]


async def test_ending_a_link_from_the_portal(
    client: httpx.AsyncClient, pair: tuple[Org, Org]
) -> None:
    provider, reseller = pair
    await accept(client, reseller, await invite(client, provider))
    provider_id = (await client.get("/api/v1/partner", headers=provider.auth)).json()["id"]
    await portal_sign_in(client, reseller.email, reseller.password)
    page = await client.get("/indirect-providers")
    assert f"/indirect-providers/{provider_id}/customers" in html.hrefs(page.text, "main")
    customers = await client.get(f"/indirect-providers/{provider_id}/customers")
    assert customers.status_code == 200
    assert "No shared customers yet" in customers.text
    ended = await client.post(
        f"/indirect-providers/{provider_id}/end", data={"csrf_token": csrf_from(page.text)}
    )
    assert ended.status_code == 303
    after = await client.get(ended.headers["location"])
    assert "The relationship has ended." in after.text
    assert f"/indirect-providers/{provider_id}/customers" not in html.hrefs(after.text, "main")


async def test_another_partners_pages_are_not_found(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    pair: tuple[Org, Org],
) -> None:
    provider, reseller = pair
    invitation = await invite(client, provider)
    await accept(client, reseller, invitation)
    pending = await invite(client, provider, email="someone@else.example")
    provider_id = (await client.get("/api/v1/partner", headers=provider.auth)).json()["id"]
    reseller_id = (await client.get("/api/v1/partner", headers=reseller.auth)).json()["id"]
    stranger = await approved(client, db, settings, operator, "indirect_reseller")
    await portal_sign_in(client, stranger.email, stranger.password)
    assert (await client.get(f"/indirect-providers/{provider_id}/customers")).status_code == 404
    page = await client.get("/indirect-providers")
    ended = await client.post(
        f"/indirect-providers/{provider_id}/end", data={"csrf_token": csrf_from(page.text)}
    )
    assert ended.status_code == 404
    other_provider = await approved(client, db, settings, operator, "indirect_provider")
    client.cookies.clear()
    await portal_sign_in(client, other_provider.email, other_provider.password)
    draft = await client.get(f"/indirect-resellers/invitations/{invitation['id']}")
    assert draft.status_code == 404
    page = await client.get("/indirect-resellers")
    csrf = csrf_from(page.text)
    sent = await client.post(
        f"/indirect-resellers/invitations/{pending['id']}/send",
        data={"csrf_token": csrf, "subject": "Hi", "body": f"Join: {pending['invite_url']}"},
    )
    assert sent.status_code == 404
    revoked = await client.post(
        f"/indirect-resellers/invitations/{pending['id']}/revoke", data={"csrf_token": csrf}
    )
    assert revoked.status_code == 404
    assert (await client.get(f"/indirect-resellers/{reseller_id}/customers")).status_code == 404
    ended = await client.post(f"/indirect-resellers/{reseller_id}/end", data={"csrf_token": csrf})
    assert ended.status_code == 404
    # nothing changed: the invitation is still an unsent draft, the link still active
    still = await client.get(f"/api/v1/reseller-invitations/{pending['id']}", headers=provider.auth)
    assert still.json()["status"] == "pending"
    assert still.json()["sent_at"] is None
    links = (await client.get("/api/v1/indirect-resellers", headers=provider.auth)).json()
    assert [(link["id"], link["status"]) for link in links["items"]] == [(reseller_id, "active")]
