"""The partner's customer pages over plain HTTP (the browser test walks the same path)."""

from __future__ import annotations

import re

import httpx

from tests import html
from tests.customers.helpers import customer_of, invite_customer, linked_pair
from tests.directory.test_portal_session import csrf_from, portal_sign_in
from tests.factories import PASSWORD, Org, sign_in
from twotier.config import Settings
from twotier.kit import clock
from twotier.kit.db import Database

Pair = tuple[Org, Org, str, str]


def checked(html: str, name: str, value: str) -> bool:
    match = re.search(
        rf'<input type="checkbox" name="{re.escape(name)}" value="{value}"[^>]*>', html
    )
    assert match, (name, value)
    return " checked" in match.group(0)


def next_pages(page: str) -> list[str]:
    """Where the page's "Next page" links go."""
    return [link.href for link in html.links(page, "main") if link.text.startswith("Next page")]


def invite_link(html: str) -> str:
    match = re.search(r'id="invite-url" readonly value="([^"]+)"', html)
    assert match
    return match.group(1)


async def test_customers_page_lists_searches_and_opens_the_record(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    _provider, reseller, provider_id, _rid = pair
    north = await customer_of(client, reseller, provider_id, name="Northwind Traders")
    await customer_of(client, reseller, None, name="Adatum Corporation")
    await portal_sign_in(client, reseller.email, reseller.password)
    page = await client.get("/customers")
    assert page.status_code == 200
    assert 'href="/customers" aria-current="page">Customers</a>' in page.text
    assert 'href="/customers/request"' in page.text
    assert {"Northwind Traders", "Adatum Corporation"} <= set(
        html.column(page.text, html.testid("customers"))
    )
    assert "with provider Contoso Distribution" in page.text
    assert "Reseller only" in page.text
    assert f'href="/customers/{north.id}"' in page.text
    found = await client.get("/customers", params={"q": "north"})
    assert html.column(found.text, html.testid("customers")) == ["Northwind Traders"]
    assert 'value="north"' in found.text
    by_domain = await client.get("/customers", params={"q": north.tenant["domain"][:6]})
    assert "Northwind Traders" in by_domain.text
    none = await client.get("/customers", params={"q": "zzz"})
    assert "starts with “zzz”" in none.text


async def test_customers_page_pages_forward(client: httpx.AsyncClient, pair: Pair) -> None:
    _provider, reseller, _pid, _rid = pair
    for n in range(27):
        await customer_of(client, reseller, None, name=f"Pager {n:02d}")
    await portal_sign_in(client, reseller.email, reseller.password)
    first = await client.get("/customers")
    [nxt] = next_pages(first.text)
    assert nxt.startswith("/customers?cursor=")
    second = await client.get(nxt)
    names = set(re.findall(r"Pager \d\d", first.text)) | set(re.findall(r"Pager \d\d", second.text))
    assert len(names) == 27
    assert next_pages(second.text) == []


async def test_request_form_keeps_the_input_and_says_what_is_wrong(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    _provider, reseller, _pid, _rid = pair
    await portal_sign_in(client, reseller.email, reseller.password)
    form = await client.get("/customers/request")
    assert form.status_code == 200
    for role in ("user_admin", "license_admin", "helpdesk_admin"):
        assert checked(form.text, "access.roles", role)
    assert not checked(form.text, "access.roles", "global_admin")
    assert "Full control" in form.text
    assert 'value="365"' in form.text
    bad = await client.post(
        "/customers/request",
        data={
            "csrf_token": csrf_from(form.text),
            "email": "not-an-email",
            "message": "Let us work together",
            "access.duration_days": "999",
        },
    )
    assert bad.status_code == 422
    assert "Enter a valid email address" in bad.text
    assert "Choose at least one role." in bad.text
    assert "Enter a number of days from 1 to 730." in bad.text
    assert 'value="not-an-email"' in bad.text
    assert "Let us work together</textarea>" in bad.text
    assert 'value="999"' in bad.text
    assert not checked(bad.text, "access.roles", "user_admin")
    listing = await client.get("/customers")
    assert "No customer invitations yet." in listing.text

    made = await client.post(
        "/customers/request",
        data={
            "csrf_token": csrf_from(form.text),
            "email": "",
            "message": "Let us work together",
            "access.roles": ["user_admin", "global_admin"],
            "access.duration_days": "30",
        },
    )
    assert made.status_code == 303
    assert re.fullmatch(r"/customers/invitations/[0-9a-f-]{36}", made.headers["location"])
    draft = await client.get(made.headers["location"])
    assert "Your invitation is ready" in draft.text
    assert "only the customer&#39;s global admin can accept it" in draft.text
    assert "Send with twotier" not in html.buttons(draft.text)  # no email address to send to
    assert invite_link(draft.text) in draft.text.split('id="f-body"')[1]
    listing = await client.get("/customers")
    row = listing.text.split('data-testid="invitations"')[1]
    assert "Link only" in row
    assert "Global admin" in row
    assert "for 30 days" in row
    assert "Pending" in row

    with_email = await client.post(
        "/customers/request",
        data={
            "csrf_token": csrf_from(form.text),
            "email": "it@northwind.example",
            "access.roles": ["user_admin"],
            "access.duration_days": "30",
        },
    )
    assert with_email.status_code == 303
    sendable = await client.get(with_email.headers["location"])
    assert "Send with twotier" in html.buttons(sendable.text)


async def test_the_draft_is_sent_only_with_the_link(client: httpx.AsyncClient, pair: Pair) -> None:
    _provider, reseller, _pid, _rid = pair
    await portal_sign_in(client, reseller.email, reseller.password)
    form = await client.get("/customers/request")
    made = await client.post(
        "/customers/request",
        data={
            "csrf_token": csrf_from(form.text),
            "email": "it@northwind.example",
            "access.roles": ["user_admin"],
            "access.duration_days": "365",
        },
    )
    path = made.headers["location"]
    draft = await client.get(path)
    link = invite_link(draft.text)
    assert "Fabrikam Resellers requests a reseller relationship" in draft.text
    lost = await client.post(
        f"{path}/send",
        data={"csrf_token": csrf_from(draft.text), "subject": "Hi", "body": "no link here"},
    )
    assert lost.status_code == 422
    assert "keep the invitation link" in lost.text
    assert "no link here</textarea>" in lost.text
    sent = await client.post(
        f"{path}/send",
        data={"csrf_token": csrf_from(draft.text), "subject": "Hi", "body": f"Join: {link}"},
    )
    assert sent.status_code == 303
    listing = await client.get(sent.headers["location"])
    assert "The invitation email is on its way." in listing.text
    assert "it@northwind.example" in listing.text
    assert "Emailed" in listing.text
    revoked = await client.post(f"{path}/revoke", data={"csrf_token": csrf_from(listing.text)})
    assert revoked.status_code == 303
    after = await client.get(revoked.headers["location"])
    assert "Revoked" in after.text
    assert (await client.get(path)).status_code == 410


async def test_invite_new_customer_from_indirect_providers_is_two_tier(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    _provider, reseller, provider_id, _rid = pair
    await portal_sign_in(client, reseller.email, reseller.password)
    providers = await client.get("/indirect-providers")
    action = f"/indirect-providers/{provider_id}/invite-customer"
    assert f'href="{action}"' in providers.text
    form = await client.get(action)
    assert form.status_code == 200
    assert "Invite new customer" in form.text
    assert "your indirect provider Contoso Distribution" in form.text
    bad = await client.post(
        action,
        data={
            "csrf_token": csrf_from(form.text),
            "email": "it@northwind.example",
            "access.duration_days": "",
        },
    )
    assert bad.status_code == 422
    assert 'value="it@northwind.example"' in bad.text
    assert "Enter a number of days from 1 to 730." in bad.text
    made = await client.post(
        action,
        data={
            "csrf_token": csrf_from(form.text),
            "email": "it@northwind.example",
            "access.roles": ["user_admin", "helpdesk_admin"],
            "access.duration_days": "180",
        },
    )
    assert made.status_code == 303
    invitation_id = made.headers["location"].rsplit("/", 1)[1]
    api = (
        await client.get(f"/api/v1/customer-invitations/{invitation_id}", headers=reseller.auth)
    ).json()
    assert api["kind"] == "two_tier"
    assert api["indirect_provider"]["id"] == provider_id
    assert api["access"] == {"roles": ["helpdesk_admin", "user_admin"], "duration_days": 180}
    draft = await client.get(made.headers["location"])
    assert "Fabrikam Resellers and Contoso Distribution invite you" in draft.text
    assert "Send with twotier" in html.buttons(draft.text)
    unknown = await client.get(
        "/indirect-providers/00000000-0000-4000-8000-000000000000/invite-customer"
    )
    assert unknown.status_code == 404
    assert "text/html" in unknown.headers["content-type"]


async def test_customer_record_shows_access_and_manages_users(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    _provider, reseller, provider_id, _rid = pair
    customer = await customer_of(client, reseller, provider_id)
    await portal_sign_in(client, reseller.email, reseller.password)
    path = f"/customers/{customer.id}"
    page = await client.get(path)
    assert page.status_code == 200
    account = page.text.split('data-testid="account"')[1].split("</dl>")[0]
    assert "Northwind Traders" in account
    assert customer.tenant["domain"] in account
    assert "Two-tier" in account
    assert "Contoso Distribution" in account
    access = page.text.split('data-testid="access"')[1].split("</ul>")[0]
    for role in ("User admin", "License admin", "Helpdesk admin"):
        assert role in access
    assert "Active" in access
    assert re.search(r"until \d{4}-\d{2}-\d{2}", access)
    users = page.text.split('data-testid="users"')[1].split("</table>")[0]
    assert customer.email in users
    assert "End relationship</button>" in page.text

    domain = customer.tenant["domain"]
    bad = await client.post(
        f"{path}/users",
        data={
            "csrf_token": csrf_from(page.text),
            "display_name": "Nina",
            "email": "nina@",
            "password": "short",
            "roles": "license_admin",
        },
    )
    assert bad.status_code == 422
    assert 'value="Nina"' in bad.text
    assert "Enter a valid email address" in bad.text
    assert checked(bad.text, "roles", "license_admin")
    added = await client.post(
        f"{path}/users",
        data={
            "csrf_token": csrf_from(page.text),
            "display_name": "Nina",
            "email": f"nina@{domain}",
            "password": PASSWORD,
        },
    )
    assert added.status_code == 303
    page = await client.get(added.headers["location"])
    assert "The user was added to the customer&#39;s directory." in page.text
    assert f"nina@{domain}" in html.column(page.text, html.testid("users"), 1)
    nina = re.search(rf'/customers/{customer.id}/users/([0-9a-f-]+)/reset-password"', page.text)
    assert nina
    own = (await client.get("/api/v1/tenant/users", headers=customer.auth)).json()["items"]
    assert f"nina@{domain}" in [u["email"] for u in own]

    ids = [u["id"] for u in own if u["email"] == f"nina@{domain}"]
    reset = await client.post(
        f"{path}/users/{ids[0]}/reset-password", data={"csrf_token": csrf_from(page.text)}
    )
    assert reset.status_code == 200
    temporary = re.search(r'id="temporary-password" readonly value="([^"]+)"', reset.text)
    assert temporary
    assert await sign_in(client, f"nina@{domain}", temporary.group(1))
    again = await client.get(path)
    assert temporary.group(1) not in again.text  # shown once

    removed = await client.post(
        f"{path}/users/{ids[0]}/remove", data={"csrf_token": csrf_from(page.text)}
    )
    assert removed.status_code == 303
    page = await client.get(removed.headers["location"])
    assert "The user was removed" in page.text
    assert f"nina@{domain}" not in html.column(page.text, html.testid("users"), 1)


async def test_the_record_says_why_when_the_grant_does_not_cover_a_task(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    _provider, reseller, _pid, _rid = pair
    customer = await customer_of(
        client, reseller, None, access={"roles": ["user_admin"], "duration_days": 1}
    )
    await portal_sign_in(client, reseller.email, reseller.password)
    path = f"/customers/{customer.id}"
    page = await client.get(path)
    assert html.exists(page.text, html.testid("users-blocked"))
    assert "Northwind Traders has not granted you Helpdesk admin" in page.text
    assert not html.exists(page.text, html.testid("users"))
    assert html.forms(page.text, action=f"{path}/users")  # user admin still covers adding users
    covered = await customer_of(client, reseller, None, name="Adatum Corporation")
    full = await client.get(f"/customers/{covered.id}")  # helpdesk admin granted too
    assert html.exists(full.text, html.testid("users"))
    assert not html.exists(full.text, html.testid("users-blocked"))

    clock.travel(24 * 3600 + 5)
    await portal_sign_in(client, reseller.email, reseller.password)
    expired = await client.get(path)
    assert expired.status_code == 200
    assert "has not granted you User admin, or the grant has expired" in expired.text
    assert html.forms(expired.text, action=f"{path}/users") == []
    access = expired.text.split('data-testid="access"')[1].split("</ul>")[0]
    assert "Expired" in access


async def test_ending_the_relationship_from_the_record(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    _provider, reseller, _pid, _rid = pair
    customer = await customer_of(client, reseller)
    await portal_sign_in(client, reseller.email, reseller.password)
    before = await client.get("/customers")
    assert "Northwind Traders" in html.column(before.text, html.testid("customers"))
    page = await client.get(f"/customers/{customer.id}")
    ended = await client.post(
        f"/customers/{customer.id}/end", data={"csrf_token": csrf_from(page.text)}
    )
    assert ended.status_code == 303
    listing = await client.get(ended.headers["location"])
    assert "The relationship has ended." in listing.text
    assert "Northwind Traders" not in html.column(listing.text, html.testid("customers"))
    gone = await client.get(f"/customers/{customer.id}")
    assert gone.status_code == 404


async def test_another_partners_customer_pages_are_not_found(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    pair: Pair,
) -> None:
    _provider, reseller, provider_id, _rid = pair
    customer = await customer_of(client, reseller, provider_id)
    invitation = await invite_customer(client, reseller)
    own = (await client.get("/api/v1/tenant/users", headers=customer.auth)).json()["items"]
    victim = own[0]["id"]
    access = f"/api/v1/customers/{customer.id}/delegated-access"
    grants_before = (await client.get(access, headers=reseller.auth)).json()["items"]
    grant_id = grants_before[0]["id"]
    await portal_sign_in(client, reseller.email, reseller.password)
    listed = await client.get("/customers")
    assert "Northwind Traders" in html.column(listed.text, html.testid("customers"))
    client.cookies.clear()
    _p, other_reseller, _op, _or = await linked_pair(client, db, settings, operator)
    await portal_sign_in(client, other_reseller.email, other_reseller.password)
    page = await client.get("/customers")
    assert "Northwind Traders" not in html.column(page.text, html.testid("customers"))
    assert "Northwind Traders" not in page.text  # nor anywhere else on the page
    token = csrf_from(page.text)
    base = f"/customers/{customer.id}"
    inv = f"/customers/invitations/{invitation['id']}"
    invite_form = {
        "email": "it@elsewhere.example",
        "access.roles": ["user_admin"],
        "access.duration_days": "30",
    }
    # Each form is valid, so only the reach check can turn it away.
    for method, path, form in (
        ("GET", base, {}),
        ("POST", f"{base}/end", {}),
        ("POST", f"{base}/users", {}),
        ("POST", f"{base}/users/{victim}/reset-password", {}),
        ("POST", f"{base}/users/{victim}/remove", {}),
        ("POST", f"{base}/grants/{grant_id}/drop-roles", {"drop_roles": ["user_admin"]}),
        ("POST", f"{base}/grants/{grant_id}/extend", {"duration_days": "30"}),
        ("GET", inv, {}),
        ("POST", f"{inv}/send", {}),
        ("POST", f"{inv}/revoke", {}),
        ("GET", f"/indirect-providers/{provider_id}/invite-customer", {}),
        ("POST", f"/indirect-providers/{provider_id}/invite-customer", invite_form),
    ):
        data = {"csrf_token": token} | form if method == "POST" else None
        response = await client.request(method, path, data=data)
        assert response.status_code == 404, (method, path)
        assert "text/html" in response.headers["content-type"]
    assert (await client.get("/api/v1/customers", headers=reseller.auth)).json()["items"]
    assert (
        await client.get(f"/api/v1/customer-invitations/{invitation['id']}", headers=reseller.auth)
    ).json()["status"] == "pending"
    assert (await client.get(access, headers=reseller.auth)).json()["items"] == grants_before
    theirs = await client.get("/api/v1/customer-invitations", headers=other_reseller.auth)
    assert theirs.json()["items"] == []  # the invite-customer post created nothing
