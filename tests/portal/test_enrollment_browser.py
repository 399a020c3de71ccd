"""A new organization enrolls in a real browser, the operator approves, the admin becomes an
admin agent: the seed's whole enrollment flow, step by step, with a screenshot of each.

This module runs its own ``twotier serve`` (it is marked ``server("empty")``, so
``live_server`` is its ``empty_server``) because it needs the server's database: an operator
is created there directly, as ``twotier operator create`` does. The ``context`` and ``page``
fixtures, failure screenshots and the server log in failure reports work as for the other
browser tests.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.portal.conftest import (
    Server,
    fill_signup,
    go_sign_in,
    new_context,
    new_tenant,
    open_from_nav,
    operator_auth,
    screenshot,
)
from twotier.kit.db import Database
from twotier.operator.service import create_operator

pytestmark = [pytest.mark.browser, pytest.mark.server("empty")]

OPERATOR_PASSWORD = "ledger-night-owl-42"
MEMBERSHIP_PASSWORD = "membership pass 42"
MAIL_TIMEOUT_SECONDS = 30.0


async def make_operator(server: Server) -> str:
    """An operator, written to the server's database as ``twotier operator create`` does."""
    email = f"ops-{uuid.uuid4().hex[:8]}@vendor.example"
    db = Database(server.database_url)
    try:
        async with db.write_sessions() as session, session.begin():
            await create_operator(session, email=email, password=OPERATOR_PASSWORD, name="Olga")
    finally:
        await db.dispose()
    return email


async def make_membership(
    server: Server, operator_email: str, organizations: list[dict[str, str]]
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.base_url) as api:
        token = await api.post(
            "/api/v1/auth/token", json={"email": operator_email, "password": OPERATOR_PASSWORD}
        )
        assert token.status_code == 200, token.text
        response = await api.post(
            "/api/v1/operator/memberships",
            json={
                "username": f"member-{uuid.uuid4().hex[:8]}",
                "password": MEMBERSHIP_PASSWORD,
                "organizations": organizations,
            },
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def verification_link(server: Server, to: str, operator_email: str) -> str:
    """The link in the confirmation email, once the in-process outbox worker delivered it."""
    deadline = time.monotonic() + MAIL_TIMEOUT_SECONDS
    async with httpx.AsyncClient(base_url=server.base_url) as api:
        auth = await operator_auth(api, operator_email, OPERATOR_PASSWORD)
        while time.monotonic() < deadline:
            answer = await api.get("/api/v1/dev/mailbox", params={"to": to}, headers=auth)
            items = answer.json()["items"]
            for mail in reversed(items):
                match = re.search(r"https?://\S+/enroll/verify\?token=[\w-]+", mail["body"])
                if match:
                    return match.group(0)
            await asyncio.sleep(0.25)
    pytest.fail(f"no confirmation email reached {to} within {MAIL_TIMEOUT_SECONDS:.0f} s")


async def test_a_new_organization_enrolls_is_approved_and_becomes_admin_agent(
    page: Page, browser: Browser, empty_server: Server, artifacts: Path
) -> None:
    server = empty_server
    tenant = new_tenant()  # in the Netherlands
    tag = tenant.domain.split(".")[0].removeprefix("fabrikam-")
    legal_name = f"Fabrikam Cloud {tag} B.V."
    contact = f"finance.{tag}@fabrikam.example"
    operator_email = await make_operator(server)
    membership = await make_membership(
        server,
        operator_email,
        [
            {"legal_name": legal_name, "country": "NL"},
            {"legal_name": f"Fabrikam Cloud {tag} GmbH", "country": "DE"},
        ],
    )
    main = page.get_by_role("main")

    # 1. Welcome: what is needed; the program.
    await page.goto("/enroll")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Enroll as a partner")
    await expect(main).to_contain_text("membership registry account")
    await expect(main).to_contain_text("can take a few days")
    await page.get_by_label("Indirect reseller", exact=True).check()
    await screenshot(page, artifacts, "enroll-01-welcome")
    await main.get_by_role("button", name="Next").click()

    # 2. Signed out: sign in, or create a new tenant, and come back.
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Sign in to your organization's tenant"
    )
    await screenshot(page, artifacts, "enroll-02-tenant")
    await main.get_by_role("link", name="Create a new tenant").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Create a new tenant")
    await fill_signup(page, tenant)
    await page.get_by_role("button", name="Create tenant").click()
    await expect(page.get_by_label("Email", exact=True)).to_have_value(tenant.email)
    await page.get_by_label("Password", exact=True).fill(tenant.password)
    await page.get_by_role("button", name="Sign in").click()

    # 3. How the partner ID is linked.
    await expect(page).to_have_url(re.compile(r"/enroll/partner-id\?program=indirect_reseller$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("How your partner ID is linked")
    await expect(main).to_contain_text("Your tenant is in Netherlands.")
    await screenshot(page, artifacts, "enroll-03-partner-id")
    await main.get_by_role("link", name="Sign in", exact=True).click()

    # 4. The membership username; 5. its password.
    await page.get_by_label("Membership username", exact=True).fill(membership["username"])
    await screenshot(page, artifacts, "enroll-04-username")
    await page.get_by_role("button", name="Next").click()
    await expect(page.get_by_test_id("membership-username")).to_have_text(membership["username"])
    await page.get_by_label("Password", exact=True).fill(MEMBERSHIP_PASSWORD)
    await screenshot(page, artifacts, "enroll-05-password")
    await page.get_by_role("button", name="Sign in", exact=True).click()

    # 6. The organization profile; the German one cannot be linked to a Dutch tenant.
    await expect(page.get_by_role("heading", level=1)).to_have_text("Choose your organization")
    german = page.get_by_label(f"Fabrikam Cloud {tag} GmbH", exact=True)
    await expect(german).to_be_disabled()
    await expect(german).to_have_accessible_description(re.compile("same country or region"))
    await expect(
        main.get_by_role("link", name="Cancel and sign in with another membership account")
    ).to_be_visible()
    await page.get_by_label(legal_name, exact=True).check()
    await screenshot(page, artifacts, "enroll-06-organization")
    await page.get_by_role("button", name="Continue").click()

    # 7. Legal profile, primary contact, customer support; Enroll now.
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your organization's profile")
    await expect(page.get_by_label("Legal company name", exact=True)).to_have_value(legal_name)
    await expect(page.get_by_label("Country or region", exact=True)).to_have_value("NL")
    await page.get_by_label("Address line 1", exact=True).fill("Herengracht 100")
    await page.get_by_label("City", exact=True).fill("Amsterdam")
    await page.get_by_label("Postal code", exact=True).fill("1015 BS")
    await expect(page.get_by_label("First name", exact=True)).to_have_value("Anna")
    await page.get_by_label("Contact email", exact=True).fill(contact)
    await page.get_by_label("Contact phone", exact=True).fill("+31 20 123 4567")
    await page.get_by_label("Support email", exact=True).fill(f"support@{tenant.domain}")
    await page.get_by_label("Support website (optional)", exact=True).fill(
        f"https://{tenant.domain}/support"
    )
    await screenshot(page, artifacts, "enroll-07-profile")
    await page.get_by_role("button", name="Enroll now").click()

    # 8. Check your email; the link; confirm.
    await expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    await expect(main).to_contain_text(contact)
    await screenshot(page, artifacts, "enroll-08-check-email")
    link = await verification_link(server, contact, operator_email)

    mail_reader = await new_context(browser, server.base_url)
    try:
        inbox = await mail_reader.new_page()
        await inbox.goto(link)
        await expect(inbox.get_by_role("heading", level=1)).to_have_text(
            "Confirm your partner enrollment"
        )
        await expect(inbox.get_by_role("main")).to_contain_text(legal_name)
        await screenshot(inbox, artifacts, "enroll-09-verify")
        await inbox.get_by_role("button", name="Confirm").click()
        await expect(inbox.get_by_test_id("enrollment-status")).to_have_text("in review")
        await screenshot(inbox, artifacts, "enroll-10-confirmed")
    finally:
        await mail_reader.close()

    await page.goto("/enroll/status")
    await expect(page.get_by_test_id("enrollment-status")).to_have_text("In review")
    await screenshot(page, artifacts, "enroll-11-status-in-review")

    # The operator approves in the portal.
    ops = await new_context(browser, server.base_url)
    try:
        review = await ops.new_page()
        await go_sign_in(review, operator_email, OPERATOR_PASSWORD)
        await open_from_nav(review, "Enrollment reviews")
        await review.get_by_test_id("enrollments").get_by_role("link", name=legal_name).click()
        await expect(review.get_by_role("heading", level=1)).to_have_text(legal_name)
        await expect(review.get_by_role("main")).to_contain_text(contact)
        await screenshot(review, artifacts, "enroll-12-operator-review")
        await review.get_by_role("button", name="Approve").click()
        await expect(review.get_by_role("status")).to_contain_text("The enrollment is approved.")
        await expect(review.get_by_test_id("enrollment-status")).to_have_text("Approved")
    finally:
        await ops.close()

    # The organization's admin sees it approved, then becomes an admin agent (seed step 9).
    await page.reload()
    await expect(page.get_by_test_id("enrollment-status")).to_have_text("Approved")
    await expect(main).to_contain_text("Admin agent")
    await screenshot(page, artifacts, "enroll-13-status-approved")
    await page.goto("/dashboard")
    partner_id = next(
        o["partner_id"] for o in membership["organizations"] if o["legal_name"] == legal_name
    )
    await expect(page.get_by_test_id("partner-account")).to_contain_text(partner_id)
    await screenshot(page, artifacts, "enroll-14-dashboard-partner")
    await main.get_by_role("link", name="Account settings → User management").click()
    users = page.get_by_test_id("users")
    await users.get_by_role("link", name=tenant.name).click()
    await page.get_by_role("checkbox", name="Admin agent").check()
    await screenshot(page, artifacts, "enroll-15-admin-agent")
    await page.get_by_role("button", name="Update").click()
    await expect(page.get_by_role("status")).to_have_text("The user was updated.")
    await expect(
        users.get_by_role("row", name=re.compile(re.escape(tenant.email)))
    ).to_contain_text("Admin agent")
    me = await page.request.get("/api/v1/me")
    assert me.ok
    assert (await me.json())["partner"]["partner_roles"] == ["admin_agent"]
