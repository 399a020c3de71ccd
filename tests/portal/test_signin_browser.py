"""The device cookie in a real browser: kept after signing out, sent back only to sign in."""

from __future__ import annotations

import re
import time

import pytest
from playwright.async_api import Page, expect

from tests.portal.conftest import new_tenant, sign_in, sign_up

pytestmark = pytest.mark.browser

DEVICE_COOKIE = "twotier_device"


async def test_the_browser_keeps_its_device_cookie_and_presents_it_at_the_next_sign_in(
    page: Page,
) -> None:
    tenant = new_tenant()
    await sign_up(page, tenant)
    await sign_in(page, tenant.email, tenant.password)
    await expect(page).to_have_url(re.compile(r"/dashboard$"))
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/signin\?notice=signed_out$"))

    cookies = {c["name"]: c for c in await page.context.cookies()}
    device = cookies[DEVICE_COOKIE]
    assert device["httpOnly"] is True
    assert device["path"] == "/signin"
    assert device["sameSite"] == "Strict"
    assert device["expires"] > time.time() + 300 * 24 * 3600

    async with (
        page.expect_request(lambda r: r.url.endswith("/signin") and r.method == "POST") as posted,
        page.expect_request(lambda r: r.url.endswith("/dashboard")) as followed,
    ):
        await sign_in(page, tenant.email, tenant.password)
    to_signin = await (await posted.value).all_headers()
    to_dashboard = await (await followed.value).all_headers()
    assert f"{DEVICE_COOKIE}={device['value']}" in to_signin["cookie"]
    assert "twotier_session=" in to_dashboard["cookie"]
    assert DEVICE_COOKIE not in to_dashboard["cookie"]
    await expect(page).to_have_url(re.compile(r"/dashboard$"))
