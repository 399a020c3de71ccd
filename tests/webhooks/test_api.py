"""The webhooks API: registration, who may manage, another tenant's ids, the SSRF guard."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.channel.helpers import approved, user_with_partner_roles
from tests.factories import make_operator, make_org, make_user
from tests.webhooks.test_delivery import deliver, register, send_test
from twotier.config import Environment, Settings
from twotier.events.catalog import CATALOG
from twotier.kit.db import Database
from twotier.kit.idempotency import IdempotencyKey

PUBLIC = "https://93.184.215.14/hooks"  # a public address literal: no DNS needed


async def test_the_secret_is_shown_once(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    made = await register(client, org, PUBLIC, ["order_created", "link_created"])
    assert made["secret"].startswith("whsec_")
    assert made["events"] == ["link_created", "order_created"]
    assert made["status"] == "active"
    got = (await client.get(f"/api/v1/webhooks/{made['id']}", headers=org.auth)).json()
    assert "secret" not in got
    listed = (await client.get("/api/v1/webhooks", headers=org.auth)).json()["items"]
    assert [w["id"] for w in listed] == [made["id"]]
    assert all("secret" not in w for w in listed)


async def test_update_and_delete(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    made = await register(client, org, PUBLIC, ["order_created"])
    changed = await client.patch(
        f"/api/v1/webhooks/{made['id']}",
        json={"events": ["license_assigned"], "description": "ERP", "enabled": False},
        headers=org.auth,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["events"] == ["license_assigned"]
    assert changed.json()["description"] == "ERP"
    assert changed.json()["status"] == "disabled"
    assert changed.json()["disabled_reason"] == "by_user"
    gone = await client.delete(f"/api/v1/webhooks/{made['id']}", headers=org.auth)
    assert gone.status_code == 204
    missing = await client.get(f"/api/v1/webhooks/{made['id']}", headers=org.auth)
    assert missing.status_code == 404
    records = (
        await client.get(
            "/api/v1/audit-records", params={"resource_type": "webhook_endpoint"}, headers=org.auth
        )
    ).json()["items"]
    assert [r["operation"] for r in records] == [
        "webhook_created",
        "webhook_updated",
        "webhook_deleted",
    ]


async def test_unknown_event_types_are_refused(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    response = await client.post(
        "/api/v1/webhooks",
        json={"url": PUBLIC, "events": ["order_created", "everything"]},
        headers=org.auth,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_event_type"
    test_only = await client.post(
        "/api/v1/webhooks", json={"url": PUBLIC, "events": ["webhook_test"]}, headers=org.auth
    )
    assert test_only.json()["code"] == "unknown_event_type"


async def test_the_catalog_documents_every_event(client: httpx.AsyncClient) -> None:
    catalog = (await client.get("/api/v1/webhook-events")).json()["items"]
    paged, cursor = [], None
    while True:
        page = (
            await client.get("/api/v1/webhook-events", params={"limit": 7, "cursor": cursor})
        ).json()
        paged += page["items"]
        if (cursor := page["next_cursor"]) is None:
            break
    assert paged == catalog
    types = {e["type"] for e in catalog if e["subscribable"]}
    assert types == {e.type for e in CATALOG}
    for wanted in (
        "enrollment_submitted",
        "enrollment_approved",
        "enrollment_rejected",
        "reseller_invitation_created",
        "customer_invitation_accepted",
        "link_created",
        "link_terminated",
        "relationship_created",
        "relationship_ended",
        "delegated_access_granted",
        "delegated_access_revoked",
        "delegated_access_extended",
        "order_created",
        "subscription_created",
        "subscription_updated",
        "license_assigned",
        "license_unassigned",
    ):
        assert wanted in types
    assert all(e["description"] for e in catalog)


async def test_who_may_manage_webhooks(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    customer = await make_org(client)
    _u, plain = await make_user(client, customer, roles=["user_admin"])
    refused = await client.post(
        "/api/v1/webhooks",
        json={"url": PUBLIC, "events": ["order_created"]},
        headers={"Authorization": f"Bearer {plain}"},
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_role"

    operator = await make_operator(client, session)
    partner = await approved(client, db, settings, operator, "indirect_reseller")
    sales = await user_with_partner_roles(client, partner, ["sales_agent"])
    agent = await user_with_partner_roles(client, partner, ["admin_agent"])
    body = {"url": PUBLIC, "events": ["order_created"]}
    assert (await client.post("/api/v1/webhooks", json=body, headers=sales)).status_code == 403
    made = await client.post("/api/v1/webhooks", json=body, headers=agent)
    assert made.status_code == 201
    # The partner's global admin sees the agent's webhook: it belongs to the tenant.
    listed = (await client.get("/api/v1/webhooks", headers=partner.auth)).json()["items"]
    assert [w["id"] for w in listed] == [made.json()["id"]]


async def test_another_tenants_webhook_is_404_everywhere(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    owner = await make_org(client)
    stranger = await make_org(client)
    hook = await register(client, owner, "http://127.0.0.1:9/hooks", ["order_created"])
    delivery = await send_test(client, owner, hook["id"])
    await deliver(db, settings)
    base = f"/api/v1/webhooks/{hook['id']}"
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", base, None),
        ("PATCH", base, {"description": "mine now"}),
        ("DELETE", base, None),
        ("POST", f"{base}/rotate-secret", None),
        ("POST", f"{base}/test", None),
        ("GET", f"{base}/deliveries", None),
        ("GET", f"{base}/deliveries/{delivery['id']}", None),
        ("POST", f"{base}/deliveries/{delivery['id']}/replay", None),
    ]
    for method, path, body in calls:
        response = await client.request(method, path, json=body, headers=stranger.auth)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "webhook_not_found"
    # A delivery id of another endpoint is 404 under mine too.
    mine = await register(client, stranger, "http://127.0.0.1:9/other", ["order_created"])
    crossed = await client.get(
        f"/api/v1/webhooks/{mine['id']}/deliveries/{delivery['id']}", headers=stranger.auth
    )
    assert crossed.status_code == 404
    assert crossed.json()["code"] == "delivery_not_found"
    unknown = await client.get(f"/api/v1/webhooks/{uuid.uuid4()}", headers=owner.auth)
    assert unknown.status_code == 404
    # And the owner still has it, untouched.
    got = (await client.get(base, headers=owner.auth)).json()
    assert got["description"] is None


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://127.0.0.1:8080/hooks", "webhook_url_forbidden"),
        ("http://localhost/hooks", "webhook_url_forbidden"),
        ("http://10.1.2.3/hooks", "webhook_url_forbidden"),
        ("http://192.168.0.10/hooks", "webhook_url_forbidden"),
        ("http://169.254.169.254/latest/meta-data/", "webhook_url_forbidden"),
        ("http://[::1]/hooks", "webhook_url_forbidden"),
        ("http://[fd00:ec2::254]/hooks", "webhook_url_forbidden"),
        ("http://[::ffff:127.0.0.1]/hooks", "webhook_url_forbidden"),
        ("http://0.0.0.0/hooks", "webhook_url_forbidden"),
        ("http://224.0.0.251/hooks", "webhook_url_forbidden"),
        ("ftp://93.184.215.14/hooks", "webhook_url_invalid"),
        ("http://user:pw@93.184.215.14/hooks", "webhook_url_invalid"),
        ("https://no-such-host.invalid/hooks", "webhook_url_unresolvable"),
    ],
)
async def test_private_addresses_are_refused_without_the_flag(
    strict_client: httpx.AsyncClient, url: str, code: str
) -> None:
    org = await make_org(strict_client)
    response = await strict_client.post(
        "/api/v1/webhooks", json={"url": url, "events": ["order_created"]}, headers=org.auth
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert (await strict_client.get("/api/v1/webhooks", headers=org.auth)).json()["items"] == []


async def test_a_public_address_is_accepted_without_the_flag(
    strict_client: httpx.AsyncClient,
) -> None:
    org = await make_org(strict_client)
    made = await register(strict_client, org, PUBLIC, ["order_created"])
    moved = await strict_client.patch(
        f"/api/v1/webhooks/{made['id']}", json={"url": "http://10.0.0.5/x"}, headers=org.auth
    )
    assert moved.status_code == 422
    assert moved.json()["code"] == "webhook_url_forbidden"
    got = await strict_client.get(f"/api/v1/webhooks/{made['id']}", headers=org.auth)
    assert got.json()["url"] == PUBLIC


async def test_an_unchanged_url_is_not_checked_again(
    client: httpx.AsyncClient, strict_client: httpx.AsyncClient
) -> None:
    """Only a new URL is vetted: one allowed when registered keeps working when edited."""
    org = await make_org(client)
    made = await register(client, org, "http://127.0.0.1:9/hooks", ["order_created"])
    edited = await strict_client.patch(
        f"/api/v1/webhooks/{made['id']}",
        json={"url": "http://127.0.0.1:9/hooks", "description": "ERP"},
        headers=org.auth,
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["description"] == "ERP"


async def test_production_requires_https(settings: Settings, db: Database) -> None:
    strict = settings.model_copy(
        update={"webhooks_allow_private": False, "env": Environment.production}
    )
    from twotier.webhooks import ssrf

    with pytest.raises(ssrf.UrlRefused) as refused:
        await ssrf.check("http://93.184.215.14/hooks", strict)
    assert refused.value.code == "webhook_url_insecure"
    await ssrf.check("https://93.184.215.14/hooks", strict)


async def test_a_retried_registration_answers_alike_and_stores_no_secret(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await make_org(client)
    headers = org.auth | {"Idempotency-Key": "hook-1"}
    body = {"url": PUBLIC, "events": ["order_created"]}
    first = await client.post("/api/v1/webhooks", json=body, headers=headers)
    again = await client.post("/api/v1/webhooks", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len((await client.get("/api/v1/webhooks", headers=org.auth)).json()["items"]) == 1
    stored = await session.scalar(
        select(IdempotencyKey.response_body).where(IdempotencyKey.key == "hook-1")
    )
    assert stored is not None
    assert "secret" not in stored
    assert first.json()["secret"] not in json.dumps(stored)
