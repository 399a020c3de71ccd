"""The portal in a real browser: create a tenant, sign in and out, manage users."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.async_api import Page, expect

from tests.portal.conftest import (
    CREATED_NOTICE,
    fill_signup,
    new_tenant,
    screenshot,
    sign_in,
    sign_up,
)

pytestmark = pytest.mark.browser

SESSION_COOKIE = "twotier_session"


async def test_sign_up_sign_in_and_sign_out(page: Page, artifacts: Path) -> None:
    tenant = new_tenant()
    await page.goto("/")
    await page.get_by_role("main").get_by_role("link", name="Create a new tenant").click()
    await expect(page).to_have_url(re.compile(r"/signup$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Create a new tenant")

    await fill_signup(page, tenant)
    await page.get_by_role("button", name="Create tenant").click()

    # On the sign-in page: the notice, and the new admin's email already filled in.
    await expect(page).to_have_url(re.compile(r"/signin\?.*notice=created"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    await expect(page.get_by_role("status")).to_have_text(CREATED_NOTICE)
    await expect(page.get_by_label("Email", exact=True)).to_have_value(tenant.email)

    await page.get_by_label("Password", exact=True).fill(tenant.password)
    await page.get_by_role("button", name="Sign in").click()

    await expect(page).to_have_url(re.compile(r"/dashboard$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    await expect(page.get_by_test_id("tenant-name")).to_have_text(tenant.organization)
    signed_in_as = page.get_by_test_id("signed-in-as")
    await expect(signed_in_as).to_contain_text(tenant.name)
    await expect(signed_in_as).to_contain_text(tenant.email)
    await expect(page.get_by_text(tenant.domain, exact=True)).to_be_visible()
    await expect(page.get_by_text(tenant.country, exact=True)).to_be_visible()
    await expect(page.get_by_role("navigation", name="Main")).to_contain_text("User management")
    await screenshot(page, artifacts, "dashboard")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/signin\?notice=signed_out$"))
    await expect(page.get_by_role("status")).to_have_text("You have signed out.")
    assert SESSION_COOKIE not in {c["name"] for c in await page.context.cookies()}

    # The session is gone: the dashboard sends the browser back to sign in.
    await page.goto("/dashboard")
    await expect(page).to_have_url(re.compile(r"/signin\?next=%2Fdashboard$"))
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()


async def test_sign_up_keeps_the_input_and_says_what_is_wrong(page: Page, artifacts: Path) -> None:
    tenant = new_tenant()
    await page.goto("/signup")
    await fill_signup(page, tenant, password="short")
    await page.get_by_label("Domain", exact=True).fill("not a domain")

    async with page.expect_response(
        lambda r: r.url.endswith("/signup") and r.request.method == "POST"
    ) as answer:
        await page.get_by_role("button", name="Create tenant").click()
    assert (await answer.value).status == 422

    # Still the form, with everything typed kept — except the password.
    await expect(page.get_by_role("heading", level=1)).to_have_text("Create a new tenant")
    await expect(page.get_by_label("Organization name", exact=True)).to_have_value(
        tenant.organization
    )
    await expect(page.get_by_label("Domain", exact=True)).to_have_value("not a domain")
    await expect(page.get_by_label("Country or region", exact=True)).to_have_value(
        tenant.country_code
    )
    await expect(page.get_by_label("Your name", exact=True)).to_have_value(tenant.name)
    await expect(page.get_by_label("Your email", exact=True)).to_have_value(tenant.email)
    await expect(page.get_by_label("Password", exact=True)).to_have_value("")

    # Each wrong field says why, tied to the field for screen readers.
    domain = page.get_by_label("Domain", exact=True)
    await expect(domain).to_have_attribute("aria-invalid", "true")
    await expect(domain).to_have_accessible_description(
        re.compile("Enter a domain such as contoso.example")
    )
    password = page.get_by_label("Password", exact=True)
    await expect(password).to_have_attribute("aria-invalid", "true")
    await expect(password).to_have_accessible_description(
        re.compile(r"Enter at least 8 characters")
    )
    await expect(page.get_by_label("Country or region", exact=True)).not_to_have_attribute(
        "aria-invalid", "true"
    )
    await expect(page.get_by_label("Organization name", exact=True)).not_to_have_attribute(
        "aria-invalid", "true"
    )
    await screenshot(page, artifacts, "signup-errors")

    # Corrected, the same form goes through.
    await page.get_by_label("Domain", exact=True).fill(tenant.domain)
    await page.get_by_label("Password", exact=True).fill(tenant.password)
    await page.get_by_role("button", name="Create tenant").click()
    await expect(page.get_by_role("status")).to_have_text(CREATED_NOTICE)
    await expect(page.get_by_label("Email", exact=True)).to_have_value(tenant.email)


async def test_sign_up_says_when_the_domain_is_taken(page: Page) -> None:
    first = new_tenant()
    await sign_up(page, first)

    second = new_tenant()
    await page.goto("/signup")
    await fill_signup(page, second)
    await page.get_by_label("Domain", exact=True).fill(first.domain.upper())

    async with page.expect_response(
        lambda r: r.url.endswith("/signup") and r.request.method == "POST"
    ) as answer:
        await page.get_by_role("button", name="Create tenant").click()
    assert (await answer.value).status == 409

    domain = page.get_by_label("Domain", exact=True)
    await expect(domain).to_have_attribute("aria-invalid", "true")
    await expect(domain).to_have_accessible_description(
        re.compile(rf"{re.escape(first.domain)} already belongs to a tenant")
    )
    await expect(page.get_by_label("Organization name", exact=True)).to_have_value(
        second.organization
    )
    await expect(page.get_by_label("Your email", exact=True)).to_have_value(second.email)


async def test_wrong_password_shows_an_error_and_opens_no_session(page: Page) -> None:
    tenant = new_tenant()
    await sign_up(page, tenant)

    async with page.expect_response(
        lambda r: r.url.endswith("/signin") and r.request.method == "POST"
    ) as answer:
        await sign_in(page, tenant.email, "not the password")
    assert (await answer.value).status == 401

    await expect(page.get_by_role("alert")).to_have_text("The email or password is incorrect.")
    await expect(page.get_by_label("Email", exact=True)).to_have_value(tenant.email)
    await expect(page.get_by_label("Password", exact=True)).to_have_value("")
    await expect(page.get_by_test_id("signed-in-as")).to_have_count(0)
    assert SESSION_COOKIE not in {c["name"] for c in await page.context.cookies()}

    await page.goto("/dashboard")
    await expect(page).to_have_url(re.compile(r"/signin\?next=%2Fdashboard$"))

    # The right password still works afterwards.
    await sign_in(page, tenant.email, tenant.password)
    await expect(page).to_have_url(re.compile(r"/dashboard$"))
    await expect(page.get_by_test_id("tenant-name")).to_have_text(tenant.organization)


async def test_sign_in_returns_to_the_protected_page_and_adds_a_user(
    page: Page, artifacts: Path
) -> None:
    tenant = new_tenant()
    await sign_up(page, tenant)

    await page.goto("/account/users")
    await expect(page).to_have_url(
        re.compile(re.escape(f"/signin?next={quote('/account/users', safe='')}") + "$")
    )
    await sign_in(page, tenant.email, tenant.password)

    await expect(page).to_have_url(re.compile(r"/account/users$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("User management")
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="User management")).to_have_attribute(
        "aria-current", "page"
    )
    users = page.get_by_test_id("users")
    await expect(
        users.get_by_role("row", name=re.compile(re.escape(tenant.email)))
    ).to_contain_text("Global admin")

    tag = uuid.uuid4().hex[:6]
    new_name, new_email = f"Bram Jansen {tag}", f"bram.{tag}@{tenant.domain}"
    await page.get_by_label("Name", exact=True).fill(new_name)
    await page.get_by_label("Email", exact=True).fill(new_email)
    await page.get_by_label("Initial password", exact=True).fill("another good password")
    await page.get_by_role("checkbox", name="User admin", exact=True).check()
    await page.get_by_role("button", name="Add user").click()

    await expect(page).to_have_url(re.compile(r"/account/users\?notice=user_added$"))
    await expect(page.get_by_role("status")).to_have_text("The user was added.")
    row = users.get_by_role("row", name=re.compile(re.escape(new_email)))
    await expect(row).to_contain_text(new_name)
    await expect(row).to_contain_text("User admin")
    await expect(row).not_to_contain_text("Global admin")
    await expect(users.get_by_role("row")).to_have_count(3)  # header, the admin, the new user
    await screenshot(page, artifacts, "users")

    # The new user can sign in with the initial password.
    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, new_email, "another good password")
    await expect(page).to_have_url(re.compile(r"/dashboard$"))
    await expect(page.get_by_test_id("signed-in-as")).to_contain_text(new_name)
    await expect(page.get_by_test_id("tenant-name")).to_have_text(tenant.organization)


async def test_a_reset_password_must_be_changed_before_anything_else(page: Page) -> None:
    tenant = new_tenant()
    await sign_up(page, tenant)
    await sign_in(page, tenant.email, tenant.password)
    await page.goto("/account/users")
    tag = uuid.uuid4().hex[:6]
    colleague = f"cora.{tag}@{tenant.domain}"
    await page.get_by_label("Name", exact=True).fill(f"Cora Visser {tag}")
    await page.get_by_label("Email", exact=True).fill(colleague)
    await page.get_by_label("Initial password", exact=True).fill("another good password")
    await page.get_by_role("button", name="Add user").click()
    await expect(page.get_by_role("status")).to_have_text("The user was added.")

    # The admin resets the colleague's password (the page asks first) and reads it once.
    page.once("dialog", lambda dialog: dialog.accept())
    row = page.get_by_test_id("users").get_by_role("row", name=re.compile(re.escape(colleague)))
    await row.get_by_role("button", name="Reset password").click()
    temporary = await page.get_by_label("Temporary password").input_value()
    assert len(temporary) >= 12
    await page.get_by_role("button", name="Sign out").click()

    # Signed in with it, every page leads to the change first.
    await sign_in(page, colleague, temporary)
    await expect(page).to_have_url(re.compile(r"/account/password"))
    await expect(page.get_by_test_id("password-change-due")).to_be_visible()
    await page.goto("/account/users")
    await expect(page).to_have_url(re.compile(r"/account/password"))

    await page.get_by_label("Temporary password", exact=True).fill(temporary)
    await page.get_by_label("New password", exact=True).fill("copper heron drifts east")
    await page.get_by_label("New password again", exact=True).fill("copper heron drifts east")
    await page.get_by_role("button", name="Change password").click()
    await expect(page).not_to_have_url(re.compile(r"/account/password"))
    await page.goto("/dashboard")
    await expect(page).to_have_url(re.compile(r"/dashboard$"))
    await expect(page.get_by_test_id("signed-in-as")).to_contain_text("Cora Visser")
