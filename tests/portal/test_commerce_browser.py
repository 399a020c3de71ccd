"""The provider adds a subscription for a customer naming the reseller; the reseller assigns
its licenses until none are left — in a real browser.

The server's database holds the demo world (``twotier demo``): Contoso Distribution (the
indirect provider) and Fabrikam Cloud Resellers (the reseller) share Northwind Traders, which
has five users and no Project Plan 3 seats yet. Contoso's admin opens Northwind's record,
adds 2 seats of Project Plan 3 with Fabrikam as reseller of record, attesting; Fabrikam's
admin opens the same record and assigns the licenses user by user until the third is refused.
Screenshots of each step go to ``test-artifacts/commerce-*.png``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.portal.conftest import (
    PROVIDER_EMAIL,
    RESELLER_EMAIL,
    RESELLER_NAME,
    Server,
    go_sign_in,
    new_context,
    open_from_nav,
    screenshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.server("demo")]

CUSTOMER_NAME = "Northwind Traders"
NORTHWIND_USERS = (
    "li.yuting@northwind.example",
    "chang.chihhao@northwind.example",
    "tsai.peishan@northwind.example",
)


async def open_customer(page: Page, email: str) -> None:
    await go_sign_in(page, email)
    await open_from_nav(page, "Customers")
    await page.get_by_test_id("customers").get_by_role("link", name=CUSTOMER_NAME).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(CUSTOMER_NAME)


async def test_provider_adds_a_subscription_and_the_reseller_assigns_until_none_are_left(
    page: Page, browser: Browser, demo_server: Server, artifacts: Path
) -> None:
    # 1. Contoso's admin: Northwind's record → Add subscription (2 seats of Project Plan 3).
    await open_customer(page, PROVIDER_EMAIL)
    subscriptions = page.get_by_test_id("subscriptions")
    await expect(subscriptions.get_by_role("row")).to_have_count(3)  # the demo's two, + head
    form = page.get_by_role("form", name="Add subscription")
    offer = form.get_by_label("Offer", exact=True)
    plan3_offer = offer.locator("option", has_text=re.compile(r"^Contoso Project — Plan 3 · "))
    await expect(plan3_offer).to_contain_text("930.00 TWD per user")
    await offer.select_option(await plan3_offer.get_attribute("value"))
    await form.get_by_label("Quantity", exact=True).fill("2")
    reseller = form.get_by_label("Reseller of record", exact=True)
    await expect(reseller.locator("option:checked")).to_have_text(re.compile(RESELLER_NAME))
    attestation = form.get_by_role("checkbox", name=re.compile(r"^I attest that Northwind"))
    await expect(attestation).not_to_be_checked()

    # Without the attestation, nothing is ordered and the choices stay.
    await form.get_by_role("button", name="Add subscription").click()
    await expect(page.get_by_text("Tick the box to confirm the attestation.")).to_be_visible()
    await expect(form.get_by_label("Quantity", exact=True)).to_have_value("2")
    await expect(subscriptions.get_by_role("row")).to_have_count(3)
    await attestation.check()
    await screenshot(page, artifacts, "commerce-01-provider-add-subscription")
    await form.get_by_role("button", name="Add subscription").click()

    await expect(page.get_by_role("status")).to_have_text("The subscription was added.")
    added = subscriptions.get_by_role("row").filter(has_text="Plan 3")
    await expect(added).to_have_count(1)
    for cell in ("Project Plan 3 (monthly)", "Active", RESELLER_NAME, "930.00 TWD"):
        await expect(added).to_contain_text(cell)
    await expect(added.get_by_role("cell").nth(2)).to_have_text("2")
    await screenshot(page, artifacts, "commerce-02-provider-subscription-added")

    # 2. Fabrikam's admin: the same record; 2 Plan 3 seats, none assigned.
    reseller_ctx = await new_context(browser, demo_server.base_url)
    try:
        tab = await reseller_ctx.new_page()
        await open_customer(tab, RESELLER_EMAIL)
        await expect(tab.get_by_role("form", name="Add subscription")).to_have_count(0)
        plan3 = tab.get_by_test_id("licenses").get_by_role("row").filter(has_text="Plan 3")
        await expect(plan3.get_by_role("cell")).to_have_text([re.compile("Plan 3"), "2", "0", "2"])
        # 3. Assign user by user until none are left.
        for email in NORTHWIND_USERS[:2]:
            await tab.get_by_role("button", name=f"Assign Plan 3 to {email}").click()
            await expect(tab.get_by_role("status")).to_have_text("The license was assigned.")
            await expect(
                tab.get_by_role("button", name=f"Unassign Plan 3 from {email}")
            ).to_be_visible()
        await expect(plan3.get_by_role("cell")).to_have_text([re.compile("Plan 3"), "2", "2", "0"])
        await screenshot(tab, artifacts, "commerce-03-reseller-assigned-all")
        await tab.get_by_role("button", name=f"Assign Plan 3 to {NORTHWIND_USERS[2]}").click()

        # 4. The refusal, and nothing changed.
        await expect(tab.get_by_role("alert")).to_have_text(
            "No Plan 3 licenses are left; buy more seats or unassign one."
        )
        await expect(plan3.get_by_role("cell")).to_have_text([re.compile("Plan 3"), "2", "2", "0"])
        await expect(
            tab.get_by_role("button", name=f"Assign Plan 3 to {NORTHWIND_USERS[2]}")
        ).to_be_visible()
        await screenshot(tab, artifacts, "commerce-04-reseller-refused")
    finally:
        await reseller_ctx.close()
