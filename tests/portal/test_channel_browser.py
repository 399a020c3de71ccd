"""The provider invites a reseller in a real browser; the reseller authorizes it from the link.

The server's database holds the real demo world (``twotier demo``): Contoso Distribution is an
indirect provider, Fabrikam Cloud Resellers an indirect reseller, and Fabrikam has already
authorized Contoso. So Fabrikam first ends that relationship on its Indirect providers page;
then Contoso invites it again, and Fabrikam's admin, signed out, follows the emailed link,
signs in, lands back on the invitation and authorizes. A screenshot of each step goes to
``test-artifacts/channel-*.png``.

This module runs its own ``twotier serve`` (it is marked ``server("demo")``, so
``live_server`` is its ``demo_server``) because the demo must be seeded into the server's
database. The ``context`` and ``page`` fixtures, failure screenshots and the server log in
failure reports work as for the other browser tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Dialog, Page, expect
from playwright.async_api import Error as PlaywrightError

from tests.portal.conftest import (
    DEMO_PASSWORD,
    PROVIDER_EMAIL,
    PROVIDER_NAME,
    RESELLER_EMAIL,
    RESELLER_NAME,
    Server,
    go_sign_in,
    new_context,
    open_from_nav,
    operator_auth,
    screenshot,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.server("demo")]

PROVIDER_PARTNER_ID = "4100001"
RESELLER_PARTNER_ID = "4100002"
TAILSPIN_EMAIL = "partners@tailspin.example"  # the demo's pending invitation
PROVIDER_ROLES = ("User admin", "License admin", "Helpdesk admin")

MAIL_TIMEOUT_SECONDS = 30.0
WAIT_SECONDS = 10.0


async def invitation_email(server: Server, to: str, link: str) -> dict[str, Any]:
    """The email carrying ``link``, once the in-process outbox worker delivered it."""
    deadline = time.monotonic() + MAIL_TIMEOUT_SECONDS
    async with httpx.AsyncClient(base_url=server.base_url) as api:
        auth = await operator_auth(api)
        while time.monotonic() < deadline:
            response = await api.get(
                "/api/v1/dev/mailbox", params={"to": to, "limit": 100}, headers=auth
            )
            assert response.status_code == 200, response.text
            for mail in response.json()["items"]:
                if link in mail["body"]:
                    return dict(mail)
            await asyncio.sleep(0.25)
    pytest.fail(f"no email with {link} reached {to} within {MAIL_TIMEOUT_SECONDS:.0f} s")


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT_SECONDS:.0f} s for {what}")
        await asyncio.sleep(0.05)


async def end_fabrikams_link_with_contoso(
    browser: Browser, server: Server, artifacts: Path
) -> None:
    """Fabrikam's admin ends the demo's link on Indirect providers, after a confirm dialog."""
    ctx = await new_context(browser, server.base_url)
    try:
        page = await ctx.new_page()
        await go_sign_in(page, RESELLER_EMAIL)
        await open_from_nav(page, "Indirect providers")
        links = page.get_by_test_id("links")
        contoso = links.get_by_role("row").filter(has_text=PROVIDER_NAME)
        await expect(contoso).to_have_count(1)
        await screenshot(page, artifacts, "channel-00-reseller-linked")

        dialogs: list[str] = []

        async def dismiss(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            await dialog.dismiss()

        async def accept(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            await dialog.accept()

        end = contoso.get_by_role("button", name="End relationship")
        page.once("dialog", dismiss)  # changing one's mind keeps the link
        await end.click()
        await until(lambda: len(dialogs) == 1, "the confirm dialog to be dismissed")
        await expect(contoso).to_have_count(1)
        assert page.url.endswith("/indirect-providers")

        page.once("dialog", accept)
        await end.click()
        await expect(page).to_have_url(re.compile(r"/indirect-providers\?notice=ended$"))
        assert (
            dialogs == ["End the relationship with this provider now? Its access ends at once."] * 2
        )
        await expect(page.get_by_role("status")).to_have_text("The relationship has ended.")
        await expect(links.get_by_role("row").filter(has_text=PROVIDER_NAME)).to_have_count(0)
        await expect(links).to_contain_text("No indirect providers yet.")
        await screenshot(page, artifacts, "channel-01-reseller-ended")
    finally:
        await ctx.close()


async def test_provider_invites_and_signed_out_reseller_authorizes_from_the_link(
    page: Page, browser: Browser, demo_server: Server, artifacts: Path
) -> None:
    server = demo_server
    await end_fabrikams_link_with_contoso(browser, server, artifacts)

    # 1. The provider invites Fabrikam on Indirect resellers.
    await go_sign_in(page, PROVIDER_EMAIL)
    await open_from_nav(page, "Indirect resellers")
    links = page.get_by_test_id("links")
    invitations = page.get_by_test_id("invitations")
    await expect(links.get_by_role("row").filter(has_text=RESELLER_NAME)).to_have_count(0)
    await expect(links).to_contain_text("No resellers yet.")
    await page.get_by_label("Reseller's email", exact=True).fill(RESELLER_EMAIL)
    await screenshot(page, artifacts, "channel-02-provider-invite")
    await page.get_by_role("button", name="Create invitation").click()

    # 2. The draft: the link, and an email that carries it; twotier sends it.
    await expect(page).to_have_url(re.compile(r"/indirect-resellers/invitations/[0-9a-f-]{36}$"))
    invitation_path = page.url.removeprefix(server.base_url)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your invitation is ready")
    link_box = page.get_by_label("Invitation link", exact=True)
    await expect(link_box).to_have_value(re.compile(rf"^{re.escape(server.base_url)}/invitations/"))
    link = await link_box.input_value()
    await expect(page.get_by_label("To", exact=True)).to_have_value(RESELLER_EMAIL)
    subject = f"{PROVIDER_NAME} invites you to connect as an indirect reseller"
    await expect(page.get_by_label("Subject", exact=True)).to_have_value(subject)
    body = page.get_by_label("Message", exact=True)
    await expect(body).to_have_value(re.compile(re.escape(link)))
    await expect(body).to_have_value(re.compile(f"partner ID {PROVIDER_PARTNER_ID}"))
    await screenshot(page, artifacts, "channel-03-provider-draft")
    await page.get_by_role("button", name="Send with twotier").click()

    await expect(page).to_have_url(re.compile(r"/indirect-resellers\?notice=sent$"))
    await expect(page.get_by_role("status")).to_have_text("The invitation email is on its way.")
    # Newest first: this one, pending, above the demo's (accepted) invitation of Fabrikam.
    fabrikam_rows = invitations.get_by_role("row").filter(has_text=RESELLER_EMAIL)
    await expect(fabrikam_rows).to_have_count(2)
    await expect(fabrikam_rows.first).to_contain_text("Pending")
    await expect(fabrikam_rows.first).to_contain_text(re.compile(r"Emailed \d{4}-\d{2}-\d{2}"))
    await expect(fabrikam_rows.first.get_by_role("link", name="Draft email")).to_have_attribute(
        "href", invitation_path
    )
    await expect(fabrikam_rows.last).to_contain_text("Accepted")
    await screenshot(page, artifacts, "channel-04-provider-sent")

    mail = await invitation_email(server, RESELLER_EMAIL, link)
    assert mail["subject"] == subject

    # 3. The reseller's admin opens the link signed out: who invites, and what it means.
    reseller = await new_context(browser, server.base_url)
    try:
        inbox = await reseller.new_page()
        await inbox.goto(link)
        main = inbox.get_by_role("main")
        await expect(inbox.get_by_role("heading", level=1)).to_have_text(PROVIDER_NAME)
        await expect(main).to_contain_text("Invitation from")
        await expect(main).to_contain_text(f"Partner ID {PROVIDER_PARTNER_ID}")
        await expect(main).to_contain_text(
            f"{PROVIDER_NAME} asks to become your indirect provider."
        )
        await expect(main).to_contain_text(
            f'By selecting "Authorize indirect provider", you allow {PROVIDER_NAME} to submit '
            "orders and add subscriptions on behalf of your customers"
        )
        await expect(main).to_contain_text("until ")
        await expect(inbox.get_by_role("checkbox")).to_have_count(0)
        await screenshot(inbox, artifacts, "channel-05-reseller-link-signed-out")
        await main.get_by_role("link", name="Sign in", exact=True).click()

        # 4. Sign in; back on the same invitation.
        await expect(inbox).to_have_url(re.compile(r"/signin\?next="))
        await screenshot(inbox, artifacts, "channel-06-reseller-sign-in")
        await sign_in(inbox, RESELLER_EMAIL, DEMO_PASSWORD)
        await expect(inbox).to_have_url(link)
        await expect(inbox.get_by_role("heading", level=1)).to_have_text(PROVIDER_NAME)
        consent = inbox.get_by_role(
            "checkbox",
            name=f"I have read the above and authorize {PROVIDER_NAME} for {RESELLER_NAME}.",
        )
        await expect(consent).not_to_be_checked()
        await expect(consent).to_have_accessible_description(
            re.compile(r"^By selecting \"Authorize indirect provider\"")
        )
        await screenshot(inbox, artifacts, "channel-07-reseller-invitation-signed-in")

        # 5. Not ticked: nothing happens but a clear error.
        authorize = main.get_by_role("button", name="Authorize indirect provider")
        await authorize.click()
        await expect(inbox.get_by_role("alert")).to_have_text(
            "Tick the box to authorize. Nothing was changed."
        )
        await expect(inbox).to_have_url(link)
        await expect(consent).not_to_be_checked()
        await screenshot(inbox, artifacts, "channel-08-reseller-not-ticked")

        # 6. Ticked: authorized, and Contoso is on Indirect providers with its admin access.
        await consent.check()
        await authorize.click()
        await expect(inbox).to_have_url(re.compile(r"/indirect-providers\?notice=authorized$"))
        await expect(inbox.get_by_role("heading", level=1)).to_have_text("Indirect providers")
        await expect(inbox.get_by_role("status")).to_have_text(
            "The provider is authorized. It now appears below."
        )
        contoso = inbox.get_by_test_id("links").get_by_role("row").filter(has_text=PROVIDER_NAME)
        await expect(contoso).to_have_count(1)
        await expect(contoso).to_contain_text(PROVIDER_PARTNER_ID)
        for role in PROVIDER_ROLES:
            await expect(contoso).to_contain_text(role)
        await expect(contoso).to_contain_text(re.compile(r"until \d{4}-\d{2}-\d{2}"))
        await expect(contoso.get_by_role("button", name="End relationship")).to_be_visible()
        await screenshot(inbox, artifacts, "channel-09-reseller-authorized")
        await contoso.get_by_role("link", name="View customers").click()
        await expect(inbox.get_by_role("heading", level=1)).to_have_text(
            f"Customers shared with {PROVIDER_NAME}"
        )
        # The demo's two-tier customer is shared with the provider; the reseller-only one is not.
        shared = inbox.get_by_test_id("customers")
        await expect(shared).to_contain_text("Northwind Traders")
        await expect(shared).not_to_contain_text("Wide World Importers")
        await screenshot(inbox, artifacts, "channel-09b-reseller-shared-customers")
        await main.get_by_role("link", name="Indirect providers").click()
        await expect(contoso).to_have_count(1)

        # The link works once.
        await inbox.goto(link)
        await expect(inbox.get_by_role("heading", level=1)).to_have_text(
            "This invitation was already used"
        )
        await expect(inbox.get_by_role("button", name="Authorize indirect provider")).to_have_count(
            0
        )
        await screenshot(inbox, artifacts, "channel-10-reseller-link-used")
    finally:
        await reseller.close()

    # 7. The provider sees Fabrikam among its resellers, and the invitation accepted.
    await page.goto("/indirect-resellers")
    fabrikam = links.get_by_role("row").filter(has_text=RESELLER_NAME)
    await expect(fabrikam).to_have_count(1)
    await expect(fabrikam).to_contain_text(RESELLER_PARTNER_ID)
    await expect(fabrikam_rows).to_have_count(2)
    await expect(fabrikam_rows.first).to_contain_text("Accepted")
    await expect(fabrikam_rows.first).to_contain_text(RESELLER_NAME)
    await expect(fabrikam_rows.first.get_by_role("link", name="Draft email")).to_have_count(0)
    await expect(fabrikam_rows.filter(has_text="Pending")).to_have_count(0)
    await screenshot(page, artifacts, "channel-11-provider-accepted")


async def test_revoking_an_invitation_asks_first_and_then_the_link_stops_working(
    page: Page, browser: Browser, demo_server: Server, artifacts: Path
) -> None:
    # The demo's pending invitation (to Tailspin) is the one revoked.
    await go_sign_in(page, PROVIDER_EMAIL)
    await open_from_nav(page, "Indirect resellers")
    row = page.get_by_test_id("invitations").get_by_role("row").filter(has_text=TAILSPIN_EMAIL)
    await expect(row).to_contain_text("Pending")
    await row.get_by_role("link", name="Draft email").click()
    link = await page.get_by_label("Invitation link", exact=True).input_value()
    await page.get_by_role("main").get_by_role("link", name="Done").click()

    dialogs: list[str] = []

    async def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    async def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.accept()

    revoke = row.get_by_role("button", name="Revoke")
    page.once("dialog", dismiss)
    await revoke.click()
    await until(lambda: len(dialogs) == 1, "the confirm dialog to be dismissed")
    await expect(row).to_contain_text("Pending")

    page.once("dialog", accept)
    await revoke.click()
    await expect(page).to_have_url(re.compile(r"/indirect-resellers\?notice=revoked$"))
    assert dialogs == ["Revoke this invitation? Its link stops working at once."] * 2
    await expect(page.get_by_role("status")).to_have_text(
        "The invitation was revoked; its link no longer works."
    )
    await expect(row).to_contain_text("Revoked")
    await expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    await screenshot(page, artifacts, "channel-12-provider-revoked")

    stranger = await new_context(browser, demo_server.base_url)
    try:
        visitor = await stranger.new_page()
        await visitor.goto(link)
        await expect(visitor.get_by_role("heading", level=1)).to_have_text(
            "This invitation was withdrawn"
        )
        await expect(visitor.get_by_role("main")).to_contain_text("The sender revoked it.")
        await expect(visitor.get_by_role("main").get_by_role("link", name="Sign in")).to_have_count(
            0
        )
    finally:
        await stranger.close()


async def test_consent_page_refuses_to_load_inside_another_sites_frame(
    page: Page, demo_server: Server
) -> None:
    """Clickjacking: the page that authorizes a provider must not render inside a frame."""
    async with httpx.AsyncClient(base_url=demo_server.base_url) as api:
        token = await api.post(
            "/api/v1/auth/token", json={"email": PROVIDER_EMAIL, "password": DEMO_PASSWORD}
        )
        invitation = await api.post(
            "/api/v1/reseller-invitations",
            json={"email": "framed@reseller.example"},
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
    assert invitation.status_code == 201, invitation.text
    link = invitation.json()["invite_url"]

    # Shown on its own, the consent page says who asks for what...
    await page.goto(link)
    await expect(page.get_by_role("main")).to_contain_text(
        f"{PROVIDER_NAME} asks to become your indirect provider."
    )

    # ...inside another page's frame the browser refuses to render it at all.
    await page.set_content(f'<h1>Win a prize</h1><iframe title="bait" src="{link}"></iframe>')
    await until(lambda: len(page.frames) == 2, "the frame to be attempted")
    framed = page.frames[1]
    with contextlib.suppress(PlaywrightError):
        await framed.wait_for_load_state(timeout=5000)
    shown = ""
    with contextlib.suppress(PlaywrightError):
        shown = await framed.content()
    assert "asks to become your indirect provider" not in shown
    assert not framed.url.startswith(demo_server.base_url)
