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

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import create_database, drop_database
from tests.portal.conftest import TWOTIER, free_port, server_env, stop, wait_until_healthy
from tests.portal.test_browser import sign_in
from tests.portal.test_channel_browser import Server, seed_demo

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "twotier-demo-2026"
PROVIDER_EMAIL = "admin@contoso-distribution.example"
RESELLER_EMAIL = "admin@fabrikam.example"
RESELLER_NAME = "Fabrikam Cloud Resellers Ltd"
CUSTOMER_NAME = "Northwind Traders"
NORTHWIND_USERS = (
    "li.yuting@northwind.example",
    "chang.chihhao@northwind.example",
    "tsai.peishan@northwind.example",
)


@pytest.fixture(scope="module")
async def commerce_server(
    pg_base_url: str | None,
    tmp_path_factory: pytest.TempPathFactory,
    server_log: tuple[Path, IO[bytes]],
) -> AsyncIterator[Server]:
    """``twotier serve`` on a fresh database seeded with ``twotier demo``."""
    if not TWOTIER.exists():
        pytest.fail(f"{TWOTIER} is missing: install the project (make install)", pytrace=False)
    log_path, log_handle = server_log
    workdir = tmp_path_factory.mktemp("commerce-live-db")
    database_url = await create_database(pg_base_url, workdir)
    base_url = f"http://127.0.0.1:{free_port()}"
    try:
        await seed_demo(database_url, base_url, workdir)
        process = await asyncio.create_subprocess_exec(
            str(TWOTIER),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            base_url.rsplit(":", 1)[1],
            env=server_env(database_url, base_url),
            cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_handle,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await wait_until_healthy(process, base_url, log_path)
            yield Server(base_url, database_url)
        finally:
            await stop(process)
    finally:
        await drop_database(database_url, pg_base_url)


@pytest.fixture(scope="module")
def live_server(commerce_server: Server) -> str:
    return commerce_server.base_url


async def shot(page: Page, artifacts: Path, name: str) -> None:
    await page.screenshot(path=artifacts / f"commerce-{name}.png", full_page=True)


async def open_customer(page: Page, email: str) -> None:
    await page.goto("/signin")
    await sign_in(page, email, DEMO_PASSWORD)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers").click()
    await page.get_by_test_id("customers").get_by_role("link", name=CUSTOMER_NAME).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(CUSTOMER_NAME)


async def test_provider_adds_a_subscription_and_the_reseller_assigns_until_none_are_left(
    page: Page, browser: Browser, commerce_server: Server, artifacts: Path
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
    await shot(page, artifacts, "01-provider-add-subscription")
    await form.get_by_role("button", name="Add subscription").click()

    await expect(page.get_by_role("status")).to_have_text("The subscription was added.")
    added = subscriptions.get_by_role("row").filter(has_text="Plan 3")
    await expect(added).to_have_count(1)
    for cell in ("Project Plan 3 (monthly)", "Active", RESELLER_NAME, "930.00 TWD"):
        await expect(added).to_contain_text(cell)
    await expect(added.get_by_role("cell").nth(2)).to_have_text("2")
    await shot(page, artifacts, "02-provider-subscription-added")

    # 2. Fabrikam's admin: the same record; 2 Plan 3 seats, none assigned.
    reseller_ctx = await browser.new_context(
        base_url=commerce_server.base_url, viewport={"width": 1280, "height": 860}, locale="en-US"
    )
    reseller_ctx.set_default_timeout(10_000)
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
        await shot(tab, artifacts, "03-reseller-assigned-all")
        await tab.get_by_role("button", name=f"Assign Plan 3 to {NORTHWIND_USERS[2]}").click()

        # 4. The refusal, and nothing changed.
        await expect(tab.get_by_role("alert")).to_have_text(
            "No Plan 3 licenses are left; buy more seats or unassign one."
        )
        await expect(plan3.get_by_role("cell")).to_have_text([re.compile("Plan 3"), "2", "2", "0"])
        await expect(
            tab.get_by_role("button", name=f"Assign Plan 3 to {NORTHWIND_USERS[2]}")
        ).to_be_visible()
        await shot(tab, artifacts, "04-reseller-refused")
    finally:
        await reseller_ctx.close()
