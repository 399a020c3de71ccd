"""Enrollment in the portal over plain HTTP: the wizard, the emailed link, review, partners."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests import html
from tests.directory.test_portal_session import csrf_from, portal_sign_in
from tests.enrollment.helpers import (
    approved_partner,
    deliver,
    latest_mail,
    submit,
    token_from,
    verify,
)
from tests.factories import (
    PASSWORD,
    Org,
    enrollment_body,
    make_membership,
    make_org,
    make_user,
    sign_in,
    unique,
)
from twotier.config import Settings
from twotier.directory.auth import CSRF_COOKIE, SESSION_COOKIE
from twotier.directory.throttle import DEVICE_COOKIE
from twotier.kit.db import Database
from twotier.operator.service import create_operator

OPERATOR_PASSWORD = "ledger-night-owl-42"
Browser = Callable[[], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def browser(app: Any) -> Browser:
    """Another browser: its own cookie jar, on the same app and database."""

    @asynccontextmanager
    async def open_browser() -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c

    return open_browser


async def operator_email(session: AsyncSession) -> str:
    email = f"{unique('ops')}@vendor.example"
    await create_operator(session, email=email, password=OPERATOR_PASSWORD, name="Olga Ops")
    await session.flush()
    return email


async def operator_auth(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {await sign_in(client, email, OPERATOR_PASSWORD)}"}


async def status_of(client: httpx.AsyncClient, org: Org) -> str:
    response = await client.get("/api/v1/enrollments/current", headers=org.auth)
    return str(response.json().get("status", response.status_code))


async def csrf(client: httpx.AsyncClient, path: str = "/dashboard") -> str:
    return csrf_from((await client.get(path)).text)


def profile_form(membership: dict[str, Any], contact: str, **overrides: str) -> dict[str, str]:
    form = {
        "program": "indirect_reseller",
        "membership.username": membership["username"],
        "membership.password": membership["password"],
        "membership.partner_id": membership["organizations"][0]["partner_id"],
        "legal_profile.company_name": "Fabrikam Cloud Resellers Ltd",
        "legal_profile.address.line1": "1 Xinyi Road",
        "legal_profile.address.line2": "",
        "legal_profile.address.city": "Taipei",
        "legal_profile.address.state": "",
        "legal_profile.address.postal_code": "110",
        "legal_profile.address.country": "TW",
        "primary_contact.first_name": "Lin",
        "primary_contact.last_name": "Wei",
        "primary_contact.email": contact,
        "primary_contact.phone": "+886 912 345 678",
        "support_profile.email": "support@fabrikam.example",
        "support_profile.phone": "",
        "support_profile.website": "",
    }
    return form | overrides


# --- the wizard ----------------------------------------------------------------------------


async def test_wizard_from_partner_id_to_check_your_email(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    operator = await operator_auth(client, await operator_email(session))
    org = await make_org(client, country="TW")
    membership = await make_membership(
        client,
        operator,
        [
            {"legal_name": "Fabrikam Taiwan", "country": "TW"},
            {"legal_name": "Fabrikam Japan", "country": "JP"},
        ],
    )
    taiwan, japan = sorted(
        membership["organizations"], key=lambda o: o["legal_name"] != "Fabrikam Taiwan"
    )
    await portal_sign_in(client, org.email, org.password)

    link = await client.get("/enroll/partner-id?program=indirect_reseller")
    assert link.status_code == 200
    assert "How your partner ID is linked" in link.text
    assert "same country or region" in link.text
    ask = await client.get("/enroll/membership?program=indirect_reseller")
    password_step = await client.post(
        "/enroll/membership",
        data={
            "csrf_token": csrf_from(ask.text),
            "program": "indirect_reseller",
            "username": membership["username"],
        },
    )
    assert password_step.status_code == 200
    assert 'type="password"' in password_step.text
    token = csrf_from(password_step.text)

    wrong = await client.post(
        "/enroll/membership/sign-in",
        data={
            "csrf_token": token,
            "program": "indirect_reseller",
            "username": membership["username"],
            "password": "not the password",
        },
    )
    assert wrong.status_code == 401
    assert "The membership username or password is incorrect." in wrong.text
    assert "not the password" not in wrong.text

    orgs = await client.post(
        "/enroll/membership/sign-in",
        data={
            "csrf_token": token,
            "program": "indirect_reseller",
            "username": membership["username"],
            "password": membership["password"],
        },
    )
    assert orgs.status_code == 200
    assert orgs.headers["cache-control"] == "no-store"
    assert "Cancel and sign in with another membership account" in orgs.text
    # The ineligible profile is listed, disabled, with its reason.
    japan_radio = re.search(rf'<input type="radio" id="org-{japan["partner_id"]}"[^>]*>', orgs.text)
    assert japan_radio
    assert "disabled" in japan_radio.group(0)
    assert "same country or region" in orgs.text

    profile = await client.post(
        "/enroll/organization",
        data={
            "csrf_token": token,
            "program": "indirect_reseller",
            "membership.username": membership["username"],
            "membership.password": membership["password"],
            "membership.partner_id": taiwan["partner_id"],
        },
    )
    assert profile.status_code == 200
    assert "Enroll now" in profile.text
    assert 'value="Fabrikam Taiwan"' in profile.text  # the legal name, from the registry

    contact = f"{unique('contact')}@fabrikam.example"
    form = profile_form(membership, contact) | {
        "membership.partner_id": taiwan["partner_id"],
        "csrf_token": token,
    }
    enrolled = await client.post("/enroll", data=form)
    assert enrolled.status_code == 303
    assert enrolled.headers["location"] == "/enroll/check-email"
    check = await client.get("/enroll/check-email")
    assert "Check your email" in check.text
    assert contact in check.text
    assert membership["password"] not in check.text
    assert all(membership["password"] not in value for value in client.cookies.values())
    current = (await client.get("/api/v1/enrollments/current", headers=org.auth)).json()
    assert current["status"] == "pending_email_verification"
    assert current["partner_id"] == taiwan["partner_id"]


async def test_signed_out_wizard_offers_sign_in_or_a_new_tenant_and_comes_back(
    client: httpx.AsyncClient,
) -> None:
    welcome = await client.get("/enroll")
    assert welcome.status_code == 200
    assert "membership registry" in welcome.text
    assert "can take a few days" in welcome.text
    step = await client.get("/enroll/account?program=indirect_provider")
    assert step.status_code == 200
    onward = "%2Fenroll%2Fpartner-id%3Fprogram%3Dindirect_provider"
    assert f'href="/signin?next={onward}"' in step.text
    assert f'href="/signup?next={onward}"' in step.text
    no_program = await client.get("/enroll/account")
    assert no_program.status_code == 422
    assert "Choose the program" in no_program.text

    org = await make_org(client)
    page = await client.get(f"/signin?next={onward}")
    signed_in = await client.post(
        "/signin",
        data={
            "email": org.email,
            "password": org.password,
            "csrf_token": csrf_from(page.text),
            "next": "/enroll/partner-id?program=indirect_provider",
        },
    )
    assert signed_in.headers["location"] == "/enroll/partner-id?program=indirect_provider"
    assert (await client.get(signed_in.headers["location"])).status_code == 200


async def test_profile_step_keeps_the_input_and_says_what_is_wrong(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    operator = await operator_auth(client, await operator_email(session))
    org = await make_org(client)
    membership = await make_membership(client, operator)
    await portal_sign_in(client, org.email, org.password)
    form = profile_form(
        membership,
        "not-an-email",
        **{
            "legal_profile.address.city": "",
            "primary_contact.phone": "call me",
            "support_profile.website": "fabrikam dot example",
            "csrf_token": await csrf(client),
        },
    )
    response = await client.post("/enroll", data=form)
    assert response.status_code == 422
    text = response.text
    assert "This field is required." in text
    assert "Enter a valid email address" in text
    assert "Enter a phone number such as +886 2 1234 5678." in text
    assert "Enter a web address such as https://contoso.example/support." in text
    assert 'value="call me"' in text
    assert 'value="Fabrikam Cloud Resellers Ltd"' in text
    assert await status_of(client, org) == "404"


async def test_wizard_refuses_a_missing_csrf_token(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    operator = await operator_auth(client, await operator_email(session))
    org = await make_org(client)
    membership = await make_membership(client, operator)
    await portal_sign_in(client, org.email, org.password)
    form = profile_form(membership, f"{unique('contact')}@fabrikam.example")
    for path, data in (
        ("/enroll", form),
        (
            "/enroll/membership/sign-in",
            {
                "program": "indirect_reseller",
                "username": membership["username"],
                "password": membership["password"],
            },
        ),
        ("/enroll/shortcut", {"program": "indirect_provider", "support_profile.email": "a@b.c"}),
    ):
        response = await client.post(path, data=data)
        assert response.status_code == 403, path
        assert "did not come from twotier" in response.text
    assert await status_of(client, org) == "404"


def onward(page: str) -> list[str]:
    """Where a page leads further into enrollment: its forms under /enroll, its links under
    /enroll/ (not the way back to /enroll)."""
    return [to for to in html.actions(page) if to.startswith("/enroll")] + [
        to for to in html.hrefs(page, "main") if to.startswith("/enroll/")
    ]


async def test_non_global_admin_gets_an_explanation_not_a_form(
    client: httpx.AsyncClient,
) -> None:
    org = await make_org(client)
    user, _token = await make_user(client, org, ["user_admin"])
    paths = ("/enroll", "/enroll/partner-id?program=indirect_reseller")
    await portal_sign_in(client, org.email, org.password)  # a global admin is led on
    for path in paths:
        assert onward((await client.get(path)).text), path
    assert "/enroll" in html.hrefs((await client.get("/dashboard")).text, "main")

    client.cookies.clear()
    await portal_sign_in(client, user["email"], PASSWORD)
    for path in paths:
        response = await client.get(path)
        assert response.status_code == 403, path
        assert "Only a global admin can enroll" in response.text
        assert "Ask a global admin of" in response.text
        assert onward(response.text) == [], path
    dashboard = await client.get("/dashboard")
    assert "/enroll" not in html.hrefs(dashboard.text)
    assert "A global admin of your organization can enroll it." in dashboard.text


# --- the emailed link ----------------------------------------------------------------------


async def test_verify_page_changes_nothing_and_its_button_confirms(
    client: httpx.AsyncClient,
    session: AsyncSession,
    db: Database,
    settings: Settings,
    browser: Browser,
) -> None:
    operator = await operator_auth(client, await operator_email(session))
    org = await make_org(client)
    _enrollment, body = await submit(client, org, operator)
    contact = body["primary_contact"]["email"]
    await deliver(db, settings)
    token = token_from((await latest_mail(client, contact))["body"])

    async with browser() as mail_client:  # the contact, not signed in to twotier
        for _ in range(2):  # a mail scanner, then the person
            page = await mail_client.get(f"/enroll/verify?token={token}")
            assert page.status_code == 200
            assert body["legal_profile"]["company_name"] in page.text
            assert html.forms(page.text, action="/enroll/verify")
            assert await status_of(client, org) == "pending_email_verification"
        refused = await mail_client.post("/enroll/verify", data={"token": token})
        assert refused.status_code == 403
        assert await status_of(client, org) == "pending_email_verification"

        confirmed = await mail_client.post(
            "/enroll/verify", data={"token": token, "csrf_token": csrf_from(page.text)}
        )
        assert confirmed.status_code == 200
        assert "in review" in confirmed.text
        assert await status_of(client, org) == "in_review"

        again = await mail_client.get(f"/enroll/verify?token={token}")
        assert again.status_code == 410
        assert "already used" in again.text
        assert html.forms(again.text, action="/enroll/verify") == []
    unknown = await client.get("/enroll/verify?token=nope")
    assert unknown.status_code == 404
    assert "not valid" in unknown.text


async def test_status_page_resends_the_link_while_pending(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await operator_auth(client, await operator_email(session))
    org = await make_org(client)
    _enrollment, body = await submit(client, org, operator)
    contact = body["primary_contact"]["email"]
    await deliver(db, settings)
    old = token_from((await latest_mail(client, contact))["body"])
    await portal_sign_in(client, org.email, org.password)
    status = await client.get("/enroll/status")
    assert "Waiting for email confirmation" in status.text
    assert "Resend the confirmation email" in status.text
    resent = await client.post("/enroll/status/resend", data={"csrf_token": csrf_from(status.text)})
    assert resent.status_code == 303
    assert "We sent a new confirmation link." in (await client.get(resent.headers["location"])).text
    await deliver(db, settings)
    assert token_from((await latest_mail(client, contact))["body"]) != old
    stale = await client.get(f"/enroll/verify?token={old}")
    assert stale.status_code == 410


# --- operator review -----------------------------------------------------------------------


async def test_operator_approves_in_the_portal(
    client: httpx.AsyncClient,
    session: AsyncSession,
    db: Database,
    settings: Settings,
    browser: Browser,
) -> None:
    email = await operator_email(session)
    operator = await operator_auth(client, email)
    org = await make_org(client)
    enrollment, body = await submit(client, org, operator)
    async with browser() as ops:
        await portal_sign_in(ops, email, OPERATOR_PASSWORD)
        waiting = await ops.get("/operator/enrollments?status=pending_email_verification")
        assert f'href="/operator/enrollments/{enrollment["id"]}"' in waiting.text
        detail = await ops.get(f"/operator/enrollments/{enrollment['id']}")
        assert "has not confirmed their email yet" in detail.text
        approve = f"/operator/enrollments/{enrollment['id']}/approve"
        assert approve not in html.actions(detail.text) + html.hrefs(detail.text)

        await verify(client, db, settings, body["primary_contact"]["email"])
        queue = await ops.get("/operator/enrollments")  # in review, by default
        assert f'href="/operator/enrollments/{enrollment["id"]}"' in queue.text
        detail = await ops.get(f"/operator/enrollments/{enrollment['id']}")
        assert body["primary_contact"]["email"] in detail.text
        assert "1 Xinyi Road" in detail.text
        assert approve in html.actions(detail.text)
        approved = await ops.post(
            approve,
            data={"csrf_token": csrf_from(detail.text)},
        )
        assert approved.status_code == 303
        after = await ops.get(approved.headers["location"])
        assert "The enrollment is approved." in after.text
    partner = await client.get("/api/v1/partner", headers=org.auth)
    assert partner.json()["partner_id"] == enrollment["partner_id"]


async def test_operator_rejects_with_a_reason_in_the_portal(
    client: httpx.AsyncClient,
    session: AsyncSession,
    db: Database,
    settings: Settings,
    browser: Browser,
) -> None:
    email = await operator_email(session)
    operator = await operator_auth(client, email)
    org = await make_org(client)
    enrollment, body = await submit(client, org, operator)
    await verify(client, db, settings, body["primary_contact"]["email"])
    path = f"/operator/enrollments/{enrollment['id']}"
    reason = "The legal name does not match the registry."
    async with browser() as ops:
        await portal_sign_in(ops, email, OPERATOR_PASSWORD)
        token = csrf_from((await ops.get(path)).text)
        blank = await ops.post(f"{path}/reject", data={"csrf_token": token, "reason": "  "})
        assert blank.status_code == 422
        assert "Give the reason" in blank.text
        assert await status_of(client, org) == "in_review"
        rejected = await ops.post(f"{path}/reject", data={"csrf_token": token, "reason": reason})
        assert rejected.status_code == 303
        twice = await ops.post(f"{path}/approve", data={"csrf_token": token})
        assert twice.status_code == 409
        assert "cannot be decided now" in twice.text
    current = (await client.get("/api/v1/enrollments/current", headers=org.auth)).json()
    assert current["status"] == "rejected"
    assert current["rejection_reason"] == reason
    await portal_sign_in(client, org.email, org.password)
    status = await client.get("/enroll/status")
    assert reason in status.text
    assert "Enroll again" in status.text


async def test_operator_pages_are_not_found_for_everyone_else(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    operator = await operator_auth(client, await operator_email(session))
    theirs = await make_org(client)
    enrollment, _body = await submit(client, theirs, operator)
    mine = await make_org(client)
    await portal_sign_in(client, mine.email, mine.password)
    token = await csrf(client)
    path = f"/operator/enrollments/{enrollment['id']}"
    for method, url in (
        ("GET", path),
        ("POST", f"{path}/approve"),
        ("POST", f"{path}/reject"),
        ("GET", "/operator/enrollments"),
        ("GET", "/operator/memberships"),
        ("POST", "/operator/memberships"),
    ):
        response = await client.request(method, url, data={"csrf_token": token, "reason": "x"})
        assert response.status_code == 404, url
    assert await status_of(client, theirs) == "pending_email_verification"


async def test_operator_adds_a_membership_account_in_the_portal(
    client: httpx.AsyncClient, session: AsyncSession, browser: Browser
) -> None:
    email = await operator_email(session)
    username = unique("member")
    async with browser() as ops:
        await portal_sign_in(ops, email, OPERATOR_PASSWORD)
        page = await ops.get("/operator/memberships")
        token = csrf_from(page.text)
        form = {
            "csrf_token": token,
            "username": username,
            "password": PASSWORD,
            "organizations.0.legal_name": "Contoso Taiwan",
            "organizations.0.country": "TW",
            "organizations.0.partner_id": "",
        }
        more = await ops.post("/operator/memberships", data=form | {"action": "add_row"})
        assert more.status_code == 200
        assert 'name="organizations.1.legal_name"' in more.text
        assert 'value="Contoso Taiwan"' in more.text

        form |= {
            "organizations.1.legal_name": "Contoso Japan",
            "organizations.1.country": "JP",
            "organizations.1.partner_id": "12ab",
        }
        wrong = await ops.post("/operator/memberships", data=form)
        assert wrong.status_code == 422
        assert "A partner ID has 7 digits." in wrong.text
        assert re.search(
            r'name="organizations\.1\.partner_id"[^>]*aria-invalid="true"[^>]*'
            r'aria-describedby="[^"]*e-organizations-1-partner_id"',
            wrong.text,
        )
        assert 'value="Contoso Japan"' in wrong.text

        form["organizations.1.partner_id"] = "7654321"
        created = await ops.post("/operator/memberships", data=form)
        assert created.status_code == 303
        listing = await ops.get(created.headers["location"])
        assert "The membership account was created." in listing.text
        assert "Contoso Japan" in listing.text
        assert "7654321" in listing.text
        found = await ops.get("/operator/memberships", params={"q": "7654321"})
        assert username in found.text
    org = await make_org(client)
    lookup = await client.post(
        "/api/v1/enrollment/membership-lookup",
        json={"username": username, "password": PASSWORD},
        headers=org.auth,
    )
    assert {o["legal_name"] for o in lookup.json()["organizations"]} == {
        "Contoso Taiwan",
        "Contoso Japan",
    }


# --- partners ------------------------------------------------------------------------------


async def test_partner_roles_are_saved_through_the_user_edit_page(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await operator_auth(client, await operator_email(session))
    org = await make_org(client)
    await approved_partner(client, db, settings, org, operator)
    me = (await client.get("/api/v1/me", headers=org.auth)).json()
    await portal_sign_in(client, org.email, org.password)
    page = await client.get(f"/account/users/{me['user']['id']}")
    assert "Partner roles" in page.text
    assert 'name="partner_roles" value="admin_agent"' in page.text
    response = await client.post(
        f"/account/users/{me['user']['id']}",
        data={
            "csrf_token": csrf_from(page.text),
            "display_name": me["user"]["display_name"],
            "roles": ["global_admin"],
            "partner_roles": ["admin_agent", "helpdesk_agent"],
            "is_active": "true",
        },
    )
    assert response.status_code == 303
    after = (await client.get("/api/v1/me", headers=org.auth)).json()
    assert after["partner"]["partner_roles"] == ["admin_agent", "helpdesk_agent"]
    assert after["user"]["roles"] == ["global_admin"]
    listing = await client.get("/account/users")
    assert "Admin agent" in listing.text
    assert "Helpdesk agent" in listing.text


async def test_a_tenant_that_is_not_a_partner_has_no_partner_roles(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    org = await make_org(client)
    user, _token = await make_user(client, org)
    await portal_sign_in(client, org.email, org.password)
    page = await client.get(f"/account/users/{user['id']}")
    assert "Partner roles" not in html.texts(page.text, "legend")
    response = await client.post(
        f"/account/users/{user['id']}",
        data={
            "csrf_token": csrf_from(page.text),
            "display_name": "Uma",
            "partner_roles": ["admin_agent"],
            "is_active": "true",
        },
    )
    assert response.status_code == 303
    after = await client.get(f"/api/v1/tenant/users/{user['id']}", headers=org.auth)
    assert after.json().get("partner_roles", []) == []

    operator = await operator_auth(client, await operator_email(session))
    await approved_partner(client, db, settings, org, operator)
    partner = await client.get(f"/account/users/{user['id']}")
    assert "Partner roles" in html.texts(partner.text, "legend")


async def test_partner_profile_shows_the_account_and_saves_the_support_profile(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await operator_auth(client, await operator_email(session))
    org = await make_org(client)
    enrollment = await approved_partner(client, db, settings, org, operator)
    await portal_sign_in(client, org.email, org.password)
    page = await client.get("/partner/profile")
    assert page.status_code == 200
    assert enrollment["partner_id"] in page.text
    assert "Indirect reseller" in page.text
    assert "Lin" in page.text  # the primary contact
    assert "Add the indirect provider program" in page.text
    token = csrf_from(page.text)
    wrong = await client.post(
        "/partner/profile/support",
        data={
            "csrf_token": token,
            "support_profile.email": "help@fabrikam.example",
            "support_profile.website": "not a site",
        },
    )
    assert wrong.status_code == 422
    assert 'value="not a site"' in wrong.text
    saved = await client.post(
        "/partner/profile/support",
        data={
            "csrf_token": token,
            "support_profile.email": "help@fabrikam.example",
            "support_profile.phone": "",
            "support_profile.website": "https://fabrikam.example/help",
        },
    )
    assert saved.status_code == 303
    partner = (await client.get("/api/v1/partner", headers=org.auth)).json()
    assert partner["support_profile"] == {
        "email": "help@fabrikam.example",
        "phone": None,
        "website": "https://fabrikam.example/help",
    }
    legal = await client.post(
        "/partner/profile/legal",
        data={
            "csrf_token": token,
            "legal_profile.company_name": "Fabrikam Holdings Ltd",
            "legal_profile.address.line1": "2 Xinyi Road",
            "legal_profile.address.city": "Taipei",
            "legal_profile.address.postal_code": "110",
            "legal_profile.address.country": "TW",
        },
    )
    assert legal.status_code == 303
    assert (await client.get("/api/v1/partner", headers=org.auth)).json()[
        "company_name"
    ] == "Fabrikam Holdings Ltd"


async def test_only_managers_edit_the_partner_profile(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await operator_auth(client, await operator_email(session))
    org = await make_org(client)
    await approved_partner(client, db, settings, org, operator)
    user, _token = await make_user(client, org)
    await portal_sign_in(client, user["email"], PASSWORD)
    page = await client.get("/partner/profile")
    assert page.status_code == 200
    assert html.forms(page.text, action="/partner/profile/support") == []
    assert "Global admins and admin agents change the partner profile." in page.text
    refused = await client.post(
        "/partner/profile/support",
        data={"csrf_token": csrf_from(page.text), "support_profile.email": "x@evil.example"},
    )
    assert refused.status_code == 403

    client.cookies.clear()
    await portal_sign_in(client, org.email, org.password)  # the global admin
    managed = await client.get("/partner/profile")
    assert html.forms(managed.text, action="/partner/profile/support")


async def test_partner_adds_the_other_program_with_the_shortcut(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await operator_auth(client, await operator_email(session))
    org = await make_org(client)
    await approved_partner(client, db, settings, org, operator)
    await portal_sign_in(client, org.email, org.password)
    page = await client.get("/enroll")
    assert page.status_code == 200
    assert "Add the indirect provider program" in page.text
    assert "membership" not in html.text(page.text, "main").lower()
    added = await client.post(
        "/enroll/shortcut",
        data={
            "csrf_token": csrf_from(page.text),
            "program": "indirect_provider",
            "support_profile.email": "help@fabrikam.example",
        },
    )
    assert added.status_code == 303
    assert added.headers["location"] == "/partner/profile?notice=program_added"
    partner = (await client.get("/api/v1/partner", headers=org.auth)).json()
    assert partner["programs"] == ["indirect_provider", "indirect_reseller"]
    done = await client.get("/enroll")
    assert "You are enrolled in every program" in done.text

    client.cookies.clear()
    newcomer = await make_org(client)  # not a partner: enrolling starts at the registry
    await portal_sign_in(client, newcomer.email, newcomer.password)
    welcome = await client.get("/enroll")
    assert "membership" in html.text(welcome.text, "main").lower()


async def test_dashboard_shows_the_call_to_action_the_enrollment_then_the_partner(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await operator_auth(client, await operator_email(session))
    org = await make_org(client)
    await portal_sign_in(client, org.email, org.password)
    first = await client.get("/dashboard")
    assert "Become a partner" in html.texts(first.text, "main h2")
    assert "/enroll" in html.hrefs(first.text, "main")
    enrollment, body = await submit(client, org, operator)
    pending = await client.get("/dashboard")
    assert "Waiting for email confirmation" in pending.text
    assert "Become a partner" not in html.texts(pending.text, "main h2")
    await verify(client, db, settings, body["primary_contact"]["email"])
    await client.post(f"/api/v1/operator/enrollments/{enrollment['id']}/approve", headers=operator)
    partner = await client.get("/dashboard")
    assert enrollment["partner_id"] in partner.text
    assert "Indirect reseller" in partner.text
    assert "Become a partner" not in html.texts(partner.text, "main h2")


# --- find a provider -----------------------------------------------------------------------


async def approved_provider(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    name: str,
    country: str,
    program: str = "indirect_provider",
) -> None:
    org = await make_org(client, country=country)
    membership = await make_membership(client, operator, [{"legal_name": name, "country": country}])
    body = enrollment_body(membership, program=program, company=name)
    created = await client.post("/api/v1/enrollments", json=body, headers=org.auth)
    assert created.status_code == 201, created.text
    await verify(client, db, settings, body["primary_contact"]["email"])
    approved = await client.post(
        f"/api/v1/operator/enrollments/{created.json()['id']}/approve", headers=operator
    )
    assert approved.status_code == 200, approved.text


def listed(html: str) -> list[str]:
    return re.findall(r"<h2>([^<]+)</h2>", html.split('data-testid="providers"', 1)[1])


async def test_provider_list_filters_by_country_and_name_prefix(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await operator_auth(client, await operator_email(session))
    tag = unique("p")[-6:]
    await approved_provider(client, db, settings, operator, f"Contoso {tag} Taiwan", "TW")
    await approved_provider(client, db, settings, operator, f"Contoso {tag} Japan", "JP")
    await approved_provider(client, db, settings, operator, f"Northwind {tag}", "TW")
    await approved_provider(
        client, db, settings, operator, f"Contoso {tag} Reseller", "TW", "indirect_reseller"
    )
    client.cookies.clear()  # public: nobody signed in

    everyone = await client.get("/providers", params={"q": f"contoso {tag}"})
    assert everyone.status_code == 200
    assert listed(everyone.text) == [f"Contoso {tag} Japan", f"Contoso {tag} Taiwan"]
    taiwan = await client.get("/providers", params={"country": "TW", "q": f"CONTOSO {tag}"})
    assert listed(taiwan.text) == [f"Contoso {tag} Taiwan"]
    assert "support@fabrikam.example" in taiwan.text
    japan = await client.get("/providers", params={"country": "JP", "q": f"contoso {tag}"})
    assert listed(japan.text) == [f"Contoso {tag} Japan"]
    north = await client.get("/providers", params={"q": f"northwind {tag}"})
    assert listed(north.text) == [f"Northwind {tag}"]
    nobody = await client.get("/providers", params={"country": "JP", "q": f"northwind {tag}"})
    assert listed(nobody.text) == []
    assert "No provider matches." in nobody.text


async def test_provider_list_pages_with_a_cursor(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await operator_auth(client, await operator_email(session))
    tag = unique("p")[-6:]
    for letter in "abc":
        await approved_provider(client, db, settings, operator, f"Pager {tag} {letter}", "TW")
    first = await client.get("/providers", params={"q": f"pager {tag}", "limit": 2})
    assert listed(first.text) == [f"Pager {tag} a", f"Pager {tag} b"]
    more = re.search(r'<a href="(/providers\?[^"]+)">Next page', first.text)
    assert more
    second = await client.get(more.group(1).replace("&amp;", "&") + "&limit=2")
    assert listed(second.text) == [f"Pager {tag} c"]


async def test_session_and_csrf_cookies_never_hold_the_membership_password(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    operator = await operator_auth(client, await operator_email(session))
    org = await make_org(client)
    membership = await make_membership(client, operator)
    await portal_sign_in(client, org.email, org.password)
    token = await csrf(client)
    response = await client.post(
        "/enroll/membership/sign-in",
        data={
            "csrf_token": token,
            "program": "indirect_reseller",
            "username": membership["username"],
            "password": membership["password"],
        },
    )
    assert response.status_code == 200
    set_cookies = " ".join(v for k, v in response.headers.multi_items() if k == "set-cookie")
    assert membership["password"] not in set_cookies
    assert set(client.cookies.keys()) <= {SESSION_COOKIE, CSRF_COOKIE, DEVICE_COOKIE}
