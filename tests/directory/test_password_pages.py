"""The portal's side of passwords: the change-password page every page leads to while a
reset's temporary password is in use, resets from User management, and the reasons a
password is refused."""

from __future__ import annotations

import re
import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests import html
from tests.directory.test_portal_session import csrf_from, portal_sign_in
from tests.factories import PASSWORD, Org, make_org, make_user, unique
from twotier.directory.models import User
from twotier.kit import clock

NEW_PASSWORD = "amber kettle drifts north"
DUE_PAGE = "/account/password?next=%2Fdashboard"


async def reset(client: httpx.AsyncClient, org: Org, user_id: str) -> str:
    answer = await client.post(f"/api/v1/tenant/users/{user_id}/password-reset", headers=org.auth)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["temporary_password"])


async def signed_in_with_a_temporary_password(client: httpx.AsyncClient) -> tuple[Org, str, str]:
    org = await make_org(client)
    user, _token = await make_user(client, org)
    temporary = await reset(client, org, user["id"])
    signed = await portal_sign_in(client, user["email"], temporary)
    assert signed.status_code == 303
    return org, user["email"], temporary


async def test_every_page_leads_to_the_change_until_it_is_made(
    client: httpx.AsyncClient,
) -> None:
    _org, email, temporary = await signed_in_with_a_temporary_password(client)
    for path in ("/dashboard", "/account/users", "/", "/customers", "/signin"):
        answer = await client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/account/password?next="), path
    assert (await client.get("/static/portal.css")).status_code == 200
    page = await client.get(DUE_PAGE)
    assert page.status_code == 200
    assert "Choose a new password" in page.text
    assert html.exists(page.text, html.testid("password-change-due"))
    assert html.nav(page.text) == []  # nothing else to go to yet

    def form(current: str, new: str, confirm: str) -> dict[str, str]:
        return {
            "csrf_token": csrf_from(page.text),
            "next": "/dashboard",
            "current_password": current,
            "new_password": new,
            "confirm_password": confirm,
        }

    differ = await client.post("/account/password", data=form(temporary, NEW_PASSWORD, "x"))
    assert differ.status_code == 422
    assert "The two new passwords differ." in differ.text
    weak = await client.post(
        "/account/password", data=form(temporary, "qwerty123456", "qwerty123456")
    )
    assert weak.status_code == 422
    assert "This is a very common password." in weak.text
    wrong = await client.post("/account/password", data=form("not it", NEW_PASSWORD, NEW_PASSWORD))
    assert wrong.status_code == 403
    assert "The current password is incorrect." in wrong.text
    assert (await client.get("/dashboard")).status_code == 303

    done = await client.post("/account/password", data=form(temporary, NEW_PASSWORD, NEW_PASSWORD))
    assert done.status_code == 303
    assert done.headers["location"] == "/dashboard"
    dashboard = await client.get("/dashboard")
    assert dashboard.status_code == 200
    assert email in dashboard.text
    changed = await client.get("/account/password")
    assert changed.status_code == 200
    assert "/dashboard" in html.nav(changed.text)  # the rest of the portal is open now


async def test_signing_out_works_while_a_change_is_due(client: httpx.AsyncClient) -> None:
    await signed_in_with_a_temporary_password(client)
    page = await client.get(DUE_PAGE)
    assert "Sign out" in page.text
    out = await client.post("/signout", data={"csrf_token": csrf_from(page.text)})
    assert out.status_code == 303
    assert out.headers["location"] == "/signin?notice=signed_out"
    after = await client.get("/dashboard")
    assert after.headers["location"].startswith("/signin?next=")


async def test_an_expired_temporary_password_says_so_at_sign_in(
    client: httpx.AsyncClient,
) -> None:
    org = await make_org(client)
    user, _token = await make_user(client, org)
    temporary = await reset(client, org, user["id"])
    clock.travel(7 * 24 * 3600 + 1)
    refused = await portal_sign_in(client, user["email"], temporary)
    assert refused.status_code == 401
    assert "This temporary password has expired." in refused.text


async def test_anyone_signed_in_changes_their_password_from_the_header(
    client: httpx.AsyncClient,
) -> None:
    org = await make_org(client)
    await portal_sign_in(client, org.email, org.password)
    dashboard = await client.get("/dashboard")
    assert 'href="/account/password"' in dashboard.text
    page = await client.get("/account/password")
    assert page.status_code == 200
    assert "Change your password" in page.text
    assert 'class="sidenav"' in page.text
    done = await client.post(
        "/account/password",
        data={
            "csrf_token": csrf_from(page.text),
            "current_password": org.password,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert done.status_code == 303
    token = await client.post(
        "/api/v1/auth/token", json={"email": org.email, "password": NEW_PASSWORD}
    )
    assert token.status_code == 200


async def test_a_helpdesk_admin_resets_a_colleague_without_roles_in_user_management(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await make_org(client)
    helpdesk, _t = await make_user(client, org, ["helpdesk_admin"])
    plain, _t = await make_user(client, org)
    admin, _t = await make_user(client, org, ["user_admin"])
    await portal_sign_in(client, helpdesk["email"], PASSWORD)
    listing = await client.get("/account/users")
    offered = set(re.findall(r"/account/users/([0-9a-f-]+)/reset-password", listing.text))
    assert offered == {plain["id"]}

    before = await session.scalar(
        select(User.password_hash).where(User.id == uuid.UUID(admin["id"]))
    )
    refused = await client.post(
        f"/account/users/{admin['id']}/reset-password",
        data={"csrf_token": csrf_from(listing.text)},
    )
    assert refused.status_code == 403
    assert "needs the user admin role" in refused.text
    after = await session.scalar(
        select(User.password_hash).where(User.id == uuid.UUID(admin["id"]))
    )
    assert after == before

    done = await client.post(
        f"/account/users/{plain['id']}/reset-password",
        data={"csrf_token": csrf_from(listing.text)},
    )
    assert done.status_code == 200
    shown = re.search(r'id="temporary-password" readonly value="([^"]+)"', done.text)
    assert shown
    again = await client.get("/account/users")
    assert shown.group(1) not in again.text  # shown once


async def test_sign_up_shows_why_a_password_is_too_weak(client: httpx.AsyncClient) -> None:
    page = await client.get("/signup")
    slug = unique()
    answer = await client.post(
        "/signup",
        data={
            "csrf_token": csrf_from(page.text),
            "display_name": "Weak Co",
            "domain": f"{slug}.example",
            "country": "TW",
            "admin.display_name": "Wanda Weak",
            "admin.email": f"wanda@{slug}.example",
            "admin.password": "Password1!",
        },
    )
    assert answer.status_code == 422
    assert 'id="e-admin-password"' in answer.text
    assert "This is similar to a commonly used password." in answer.text
    assert 'value="Weak Co"' in answer.text


async def test_adding_a_user_shows_why_a_password_is_too_weak(
    client: httpx.AsyncClient,
) -> None:
    org = await make_org(client)
    await portal_sign_in(client, org.email, org.password)
    page = await client.get("/account/users")
    answer = await client.post(
        "/account/users",
        data={
            "csrf_token": csrf_from(page.text),
            "display_name": "Nina Lopez",
            "email": f"nina@{org.tenant['domain']}",
            "password": "ninalopez2026",
        },
    )
    assert answer.status_code == 422
    assert 'id="e-password"' in answer.text
    assert "It is made of your email, your name" in answer.text
