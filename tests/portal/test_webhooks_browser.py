"""In a real browser: register a webhook for a receiver on loopback and see it delivered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.portal.conftest import new_tenant, screenshot, sign_in, sign_up
from tests.webhooks.receiver import Receiver, receiver

__all__ = ["receiver"]

pytestmark = pytest.mark.browser


async def test_register_a_webhook_send_a_test_and_see_the_delivery(
    page: Page, receiver: Receiver, artifacts: Path
) -> None:
    tenant = new_tenant()
    await sign_up(page, tenant)
    await sign_in(page, tenant.email, tenant.password)
    await page.get_by_role("link", name="Webhooks").click()
    await expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()

    await page.get_by_label("Endpoint URL").fill(receiver.url)
    await page.get_by_label("Description").fill("Our ERP")
    await page.get_by_label("link_created").check()
    await page.get_by_label("relationship_created").check()
    await page.get_by_role("button", name="Register webhook").click()

    secret = page.get_by_test_id("secret")
    await expect(secret).to_contain_text("shown once")
    await expect(page.locator("#webhook-secret")).to_have_text(re.compile(r"^whsec_"))
    await page.get_by_role("button", name="Send test").click()
    await expect(page.get_by_role("status")).to_have_text("A test message is on its way.")
    await expect(secret).to_have_count(0)

    # The in-process worker delivers it; reload until the attempt shows.
    deliveries = page.get_by_test_id("deliveries")
    for _ in range(50):
        if "HTTP 204" in await deliveries.inner_text():
            break
        await page.wait_for_timeout(200)
        await page.reload()
    await expect(deliveries).to_contain_text("webhook_test")
    await expect(deliveries).to_contain_text("succeeded")
    await expect(deliveries).to_contain_text("HTTP 204")
    assert [r.headers["webhook-id"] for r in receiver.received]
    await screenshot(page, artifacts, "webhook-delivered")

    await page.get_by_role("link", name="Activity log").click()
    await expect(page.get_by_test_id("activity")).to_contain_text("webhook_test_sent")
