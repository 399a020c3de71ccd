"""The Webhooks and Activity log pages, through the portal's forms."""

from __future__ import annotations

import re

import httpx
import pytest

from tests import html
from tests.directory.test_portal_session import csrf_from, portal_sign_in
from tests.factories import make_org, make_user
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import deliver, register, send_test
from twotier.config import Settings
from twotier.kit.db import Database


async def test_register_see_the_secret_once_send_a_test_and_replay(
    client: httpx.AsyncClient, db: Database, settings: Settings, receiver: Receiver
) -> None:
    org = await make_org(client)
    assert (await portal_sign_in(client, org.email, org.password)).status_code == 303
    page = await client.get("/webhooks")
    assert page.status_code == 200
    assert {"/webhooks", "/activity"} <= set(html.nav(page.text))

    empty = await client.post(
        "/webhooks", data={"url": receiver.url, "csrf_token": csrf_from(page.text)}
    )
    assert empty.status_code == 422
    assert "Choose at least one event." in empty.text

    made = await client.post(
        "/webhooks",
        data={
            "url": receiver.url,
            "description": "ERP",
            "events": ["link_created", "order_created"],
            "csrf_token": csrf_from(page.text),
        },
    )
    assert made.status_code == 200
    secret = re.search(r'id="webhook-secret">(whsec_[^<]+)<', made.text)
    assert secret
    webhook_id = re.search(r'action="/webhooks/([0-9a-f-]{36})/test"', made.text)
    assert webhook_id
    detail = await client.get(f"/webhooks/{webhook_id.group(1)}")
    assert "whsec_" not in detail.text  # shown once

    sent = await client.post(
        f"/webhooks/{webhook_id.group(1)}/test", data={"csrf_token": csrf_from(detail.text)}
    )
    assert sent.status_code == 303
    await deliver(db, settings)
    after = await client.get(sent.headers["location"])
    assert "A test message is on its way." in after.text
    assert "webhook_test" in after.text
    assert "HTTP 204" in after.text
    delivery = re.search(r'/deliveries/([0-9a-f-]{36})/replay"', after.text)
    assert delivery
    replayed = await client.post(
        f"/webhooks/{webhook_id.group(1)}/deliveries/{delivery.group(1)}/replay",
        data={"csrf_token": csrf_from(after.text)},
    )
    assert replayed.status_code == 303
    await deliver(db, settings)
    assert len(receiver.received) == 2

    refused = await client.post(
        "/webhooks",
        data={"url": "ftp://x/", "events": ["link_created"], "csrf_token": csrf_from(page.text)},
    )
    assert refused.status_code == 422
    assert "http or https" in refused.text


ALERTS = '[role="alert"]'


async def test_each_field_says_what_is_wrong_with_it(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    assert (await portal_sign_in(client, org.email, org.password)).status_code == 303
    page = await client.get("/webhooks")
    long = await client.post(
        "/webhooks",
        data={
            "url": "https://93.184.215.14/hooks",
            "description": "x" * 201,
            "events": ["link_created"],
            "csrf_token": csrf_from(page.text),
        },
    )
    assert long.status_code == 422
    assert html.text(long.text, "#e-description") == "Enter at most 200 characters."
    assert not html.exists(long.text, "#e-url")  # the address is fine

    blank = await client.post(
        "/webhooks",
        data={"url": "", "events": ["link_created"], "csrf_token": csrf_from(page.text)},
    )
    assert blank.status_code == 422
    assert html.text(blank.text, "#e-url") == "This field is required."
    assert "Choose at least one event." not in html.texts(blank.text, ALERTS)
    no_events = await client.post(
        "/webhooks",
        data={"url": "https://93.184.215.14/hooks", "csrf_token": csrf_from(page.text)},
    )
    assert no_events.status_code == 422
    assert "Choose at least one event." in html.texts(no_events.text, ALERTS)
    listed = await client.get("/api/v1/webhooks", headers=org.auth)
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/webhooks/{hook}"),
        ("POST", "/webhooks/{hook}/test"),
        ("POST", "/webhooks/{hook}/deliveries/{delivery}/replay"),
        ("POST", "/webhooks/{hook}/rotate-secret"),
        ("POST", "/webhooks/{hook}/status"),
        ("POST", "/webhooks/{hook}/delete"),
    ],
)
async def test_another_tenants_webhook_page_is_404(
    client: httpx.AsyncClient, db: Database, settings: Settings, method: str, path: str
) -> None:
    owner = await make_org(client)
    stranger = await make_org(client)
    hook = await register(client, owner, "http://127.0.0.1:9/hooks", ["order_created"])
    delivery = await send_test(client, owner, hook["id"])
    await deliver(db, settings)
    assert (await portal_sign_in(client, stranger.email, stranger.password)).status_code == 303
    csrf = csrf_from((await client.get("/webhooks")).text)
    url = path.format(hook=hook["id"], delivery=delivery["id"])
    if method == "GET":
        response = await client.get(url)
    else:
        response = await client.post(url, data={"enabled": "false", "csrf_token": csrf})
    assert response.status_code == 404, response.text
    # The owner's webhook is untouched.
    got = await client.get(f"/api/v1/webhooks/{hook['id']}", headers=owner.auth)
    assert got.status_code == 200
    assert got.json()["status"] == "active"
    assert got.json()["previous_secret_expires_at"] is None
    sent = await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=owner.auth)
    assert [d["id"] for d in sent.json()["items"]] == [delivery["id"]]


def operations(page: str) -> list[str]:
    """The operation of each row of the activity log."""
    return html.column(page, html.testid("activity"), 1)


async def test_activity_log_filters_and_hides_from_plain_users(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    user, _token = await make_user(client, org)
    assert (await portal_sign_in(client, org.email, org.password)).status_code == 303
    page = await client.get("/activity")
    assert page.status_code == 200
    assert {"user_created", "tenant_created"} <= set(operations(page.text))
    only = await client.get("/activity", params={"operation": "user_created"})
    assert user["id"] in only.text
    assert set(operations(only.text)) == {"user_created"}
    bad = await client.get("/activity", params={"since": "yesterday"})
    assert "Enter a date" in bad.text
    admins = await client.get("/dashboard")
    assert "/activity" in html.nav(admins.text)

    client.cookies.clear()
    assert (await portal_sign_in(client, user["email"], org.password)).status_code == 303
    dashboard = await client.get("/dashboard")
    assert "/activity" not in html.hrefs(dashboard.text)
    assert (await client.get("/activity")).status_code == 403
    assert (await client.get("/webhooks")).status_code == 403
