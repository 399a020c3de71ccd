"""A reseller invites a brand-new customer to a two-tier relationship, in a real browser.

The server's database holds the demo world (``twotier demo``): Fabrikam Cloud Resellers has
authorized Contoso Distribution. Fabrikam's admin opens Indirect providers → Invite new
customer, keeps the default access and copies the link. A new customer, signed out, opens it,
creates its tenant, signs in, comes back to the invitation and accepts as global admin; its
Partners page lists Fabrikam and Contoso, and Fabrikam's Customers page lists it. Then the
customer removes Fabrikam, and Fabrikam's record of the customer is gone. Screenshots of each
step go to ``test-artifacts/customers-*.png``.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Dialog, Page, expect

from tests.portal.conftest import (
    PROVIDER_NAME,
    RESELLER_EMAIL,
    RESELLER_NAME,
    Server,
    go_sign_in,
    new_context,
    open_from_nav,
    screenshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.server("demo")]

DEFAULT_ROLES = ("User admin", "License admin", "Helpdesk admin")


async def test_reseller_invites_a_new_customer_who_creates_its_tenant_and_accepts(
    page: Page,
    context: BrowserContext,
    browser: Browser,
    demo_server: Server,
    artifacts: Path,
) -> None:
    server = demo_server
    tag = uuid.uuid4().hex[:8]
    customer_name = f"Wingtip Toys {tag}"
    customer_domain = f"wingtip-{tag}.example"
    customer_email = f"it@{customer_domain}"
    customer_password = "kite harbor sprockets"

    # 1. Fabrikam: Indirect providers → Invite new customer (with Contoso).
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    await go_sign_in(page, RESELLER_EMAIL)
    await open_from_nav(page, "Indirect providers")
    contoso = page.get_by_test_id("links").get_by_role("row").filter(has_text=PROVIDER_NAME)
    await contoso.get_by_role("link", name="Invite new customer").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Invite new customer")
    main = page.get_by_role("main")
    await expect(main).to_contain_text(f"your indirect provider {PROVIDER_NAME}")
    for role in DEFAULT_ROLES:
        await expect(page.get_by_role("checkbox", name=role, exact=True)).to_be_checked()
    global_admin = page.get_by_role("checkbox", name=re.compile(r"^Global admin"))
    await expect(global_admin).not_to_be_checked()
    await expect(global_admin).to_have_accessible_description(re.compile("full control"))
    await expect(page.get_by_label("Duration of the access, in days")).to_have_value("365")
    await page.get_by_label("Customer's email (optional)").fill(customer_email)
    await screenshot(page, artifacts, "customers-01-reseller-invite-form")
    await page.get_by_role("button", name="Create invitation").click()

    # 2. The draft: copy the link.
    await expect(page).to_have_url(re.compile(r"/customers/invitations/[0-9a-f-]{36}$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your invitation is ready")
    link_box = page.get_by_label("Invitation link", exact=True)
    await expect(link_box).to_have_value(re.compile(rf"^{re.escape(server.base_url)}/invitations/"))
    link = await link_box.input_value()
    await expect(page.get_by_label("Message", exact=True)).to_have_value(
        re.compile(re.escape(link))
    )
    await expect(page.get_by_label("Subject", exact=True)).to_have_value(
        f"{RESELLER_NAME} and {PROVIDER_NAME} invite you to a reseller relationship"
    )
    copy = page.get_by_role("button", name="Copy link")
    await copy.click()
    await expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == link
    await screenshot(page, artifacts, "customers-02-reseller-draft")
    await page.get_by_role("main").get_by_role("link", name="Done").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Customers")
    row = page.get_by_test_id("invitations").get_by_role("row").filter(has_text=customer_email)
    await expect(row).to_contain_text("Pending")
    await expect(row).to_contain_text(f"with provider {PROVIDER_NAME}")

    # 3. The new customer opens the link signed out and creates its tenant.
    customer_ctx = await new_context(browser, server.base_url)
    try:
        inbox = await customer_ctx.new_page()
        await inbox.goto(link)
        cmain = inbox.get_by_role("main")
        await expect(inbox.get_by_role("heading", level=1)).to_have_text(
            f"{RESELLER_NAME} and {PROVIDER_NAME}"
        )
        await expect(cmain).to_contain_text(f"{PROVIDER_NAME} may submit orders on your behalf")
        await screenshot(inbox, artifacts, "customers-03-customer-link-signed-out")
        await cmain.get_by_role("link", name="No tenant yet? Create a new tenant").click()
        await expect(inbox.get_by_role("heading", level=1)).to_have_text("Create a new tenant")
        await inbox.get_by_label("Organization name", exact=True).fill(customer_name)
        await inbox.get_by_label("Domain", exact=True).fill(customer_domain)
        await inbox.get_by_label("Country or region", exact=True).select_option(label="Taiwan")
        await inbox.get_by_label("Your name", exact=True).fill("Chen Mei-ling")
        await inbox.get_by_label("Your email", exact=True).fill(customer_email)
        await inbox.get_by_label("Password", exact=True).fill(customer_password)
        await inbox.get_by_role("button", name="Create tenant").click()

        # 4. Sent to sign in; back on the invitation.
        await expect(inbox).to_have_url(re.compile(r"/signin\?.*notice=created"))
        await expect(inbox.get_by_label("Email", exact=True)).to_have_value(customer_email)
        await inbox.get_by_label("Password", exact=True).fill(customer_password)
        await inbox.get_by_role("button", name="Sign in").click()
        await expect(inbox).to_have_url(link)
        consent = inbox.get_by_role(
            "checkbox",
            name=(
                f"I accept this reseller relationship for {customer_name} "
                "and grant the access listed above."
            ),
        )
        await expect(consent).not_to_be_checked()
        await screenshot(inbox, artifacts, "customers-04-customer-invitation-signed-in")
        await consent.check()
        await cmain.get_by_role("button", name="Accept and authorize").click()

        # 5. Its Partners page: Fabrikam and Contoso, with the access each holds.
        await expect(inbox).to_have_url(re.compile(r"/partners\?notice=accepted$"))
        await expect(inbox.get_by_role("heading", level=1)).to_have_text("Partners")
        partners = inbox.get_by_test_id("partners")
        fabrikam = partners.get_by_role("row").filter(
            has=inbox.get_by_role("cell", name=re.compile(f"^{re.escape(RESELLER_NAME)}"))
        )
        contoso_row = partners.get_by_role("row").filter(
            has=inbox.get_by_role("cell", name=re.compile(f"^{re.escape(PROVIDER_NAME)}"))
        )
        await expect(fabrikam).to_have_count(1)
        await expect(fabrikam).to_contain_text(f"Reseller, with provider {PROVIDER_NAME}")
        await expect(contoso_row).to_contain_text(f"Provider, through reseller {RESELLER_NAME}")
        for role in DEFAULT_ROLES:
            await expect(fabrikam).to_contain_text(role)
        await screenshot(inbox, artifacts, "customers-05-customer-partners")

        # 6. Fabrikam's Customers page lists the new customer; its record shows the access.
        await open_from_nav(page, "Customers")
        customers = page.get_by_test_id("customers")
        mine = customers.get_by_role("row").filter(has_text=customer_name)
        await expect(mine).to_have_count(1)
        await expect(mine).to_contain_text(customer_domain)
        await expect(mine).to_contain_text(f"with provider {PROVIDER_NAME}")
        await expect(row).to_contain_text("Accepted")
        await page.get_by_role("searchbox").fill("wingtip")
        await page.get_by_role("button", name="Search").click()
        await expect(mine).to_have_count(1)
        await screenshot(page, artifacts, "customers-06-reseller-customers")
        await mine.get_by_role("link", name=customer_name).click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(customer_name)
        record_url = page.url
        access = page.get_by_test_id("access")
        for role in DEFAULT_ROLES:
            await expect(access).to_contain_text(role)
        await expect(access).to_contain_text("Active")
        await expect(page.get_by_test_id("account")).to_contain_text(PROVIDER_NAME)
        await expect(page.get_by_test_id("users")).to_contain_text(customer_email)
        await screenshot(page, artifacts, "customers-07-reseller-customer-record")

        # 7. The customer removes Fabrikam (after a confirm); Contoso stays.
        dialogs: list[str] = []

        async def accept(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            await dialog.accept()

        inbox.once("dialog", accept)
        await fabrikam.get_by_role("button", name="Remove partner").click()
        await expect(inbox).to_have_url(re.compile(r"/partners\?notice=removed$"))
        assert dialogs == ["Remove this partner now? Its access to your tenant ends at once."]
        await expect(fabrikam).to_have_count(0)
        await expect(contoso_row).to_have_count(1)
        await screenshot(inbox, artifacts, "customers-08-customer-removed-reseller")
    finally:
        await customer_ctx.close()

    # 8. Fabrikam's record of the customer is gone.
    response = await page.goto(record_url)
    assert response is not None
    assert response.status == 404
    await expect(page.get_by_role("main")).to_contain_text("No such customer.")
    await screenshot(page, artifacts, "customers-09-reseller-record-gone")
    await page.goto("/customers")
    await expect(
        page.get_by_test_id("customers").get_by_role("row").filter(has_text=customer_name)
    ).to_have_count(0)
