"""IPv6 addresses that carry an IPv4 one are judged by it, at registration and at delivery."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import make_org
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import deliver, deliveries, register, send_test
from twotier.config import Settings
from twotier.kit import clock
from twotier.kit.db import Database

# (address, what the refusal names: the IPv4 address it carries, itself, or None if allowed)
ADDRESSES = [
    ("64:ff9b::7f00:1", "127.0.0.1"),  # NAT64 (well-known prefix) of loopback
    ("64:ff9b::a9fe:a9fe", "169.254.169.254"),  # ... of the metadata service
    ("64:ff9b::a00:5", "10.0.0.5"),  # ... of a private address
    ("64:ff9b:1::7f00:1", "127.0.0.1"),  # NAT64, local-use prefix
    ("64:ff9b:1::5db8:d70e", "64:ff9b:1::5db8:d70e"),  # local-use: never globally reachable
    ("2002:7f00:1::", "127.0.0.1"),  # 6to4
    ("2002:a9fe:a9fe::1", "169.254.169.254"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),  # Teredo, client 127.0.0.1
    ("2001:0:a00:1:8000:63bf:a247:28f1", "10.0.0.1"),  # Teredo via a private relay
    ("2001:0:4136:e378:8000:63bf:a247:28f1", "2001:0:4136:e378:8000:63bf:a247:28f1"),
    ("::127.0.0.1", "127.0.0.1"),  # IPv4-compatible
    ("::169.254.169.254", "169.254.169.254"),
    ("::ffff:127.0.0.1", "127.0.0.1"),  # IPv4-mapped
    ("::ffff:192.168.1.1", "192.168.1.1"),
    ("::ffff:0:127.0.0.1", "127.0.0.1"),  # IPv4-translated (SIIT)
    ("::1", "::1"),
    ("64:ff9b::5db8:d70e", None),  # NAT64 of the public 93.184.215.14
    ("2002:5db8:d70e::1", None),  # 6to4 of it
    ("::ffff:93.184.215.14", None),
    ("2606:4700:4700::1111", None),  # a plain public IPv6 address
]


@pytest.mark.parametrize(("address", "refused_as"), ADDRESSES)
async def test_registration_judges_the_ipv4_address_an_ipv6_one_carries(
    strict_client: httpx.AsyncClient, address: str, refused_as: str | None
) -> None:
    org = await make_org(strict_client)
    response = await strict_client.post(
        "/api/v1/webhooks",
        json={"url": f"https://[{address}]/hooks", "events": ["order_created"]},
        headers=org.auth,
    )
    listed = (await strict_client.get("/api/v1/webhooks", headers=org.auth)).json()["items"]
    if refused_as is None:
        assert response.status_code == 201, response.text
        assert [w["id"] for w in listed] == [response.json()["id"]]
    else:
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "webhook_url_forbidden"
        assert f"{refused_as})" in response.json()["detail"]
        assert listed == []


async def test_a_name_that_resolves_to_a_nat64_loopback_is_refused_at_registration(
    strict_client: httpx.AsyncClient, dns: dict[str, str]
) -> None:
    org = await make_org(strict_client)
    body = {"url": "https://hooks.example.test/in", "events": ["order_created"]}
    dns["hooks.example.test"] = "64:ff9b::7f00:1"
    refused = await strict_client.post("/api/v1/webhooks", json=body, headers=org.auth)
    assert refused.status_code == 422
    assert refused.json()["code"] == "webhook_url_forbidden"
    assert "(64:ff9b::7f00:1, that is 127.0.0.1)" in refused.json()["detail"]
    dns["hooks.example.test"] = "64:ff9b::5db8:d70e"
    assert (await strict_client.post("/api/v1/webhooks", json=body, headers=org.auth)).is_success


async def test_a_name_that_resolves_to_a_nat64_loopback_at_delivery_is_refused_and_recorded(
    client: httpx.AsyncClient,
    strict_client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    receiver: Receiver,
    dns: dict[str, str],
) -> None:
    org = await make_org(strict_client)
    url = f"http://hooks.example.test:{receiver.port}/hooks"
    dns["hooks.example.test"] = "93.184.215.14"
    hook = await register(strict_client, org, url, ["link_created"])
    await send_test(client, org, hook["id"])
    dns["hooks.example.test"] = "64:ff9b::7f00:1"  # rebound after registration

    await deliver(db, settings.model_copy(update={"webhooks_allow_private": False}))

    assert receiver.received == []
    [pending] = await deliveries(client, org, hook["id"])
    assert pending["status"] == "pending"
    [attempt] = pending["attempts"]
    assert attempt["status"] == "failed"
    assert attempt["response_status"] is None
    assert attempt["error"].startswith("webhook_url_forbidden")
    assert "(64:ff9b::7f00:1, that is 127.0.0.1)" in attempt["error"]
    # The name is resolved at every attempt: pointed at the receiver (private addresses
    # allowed, as in development), the retry arrives.
    dns["hooks.example.test"] = "127.0.0.1"
    clock.travel(settings.webhook_backoff_base_seconds * 4)
    await deliver(db, settings)
    [done] = await deliveries(client, org, hook["id"])
    assert done["status"] == "succeeded"
    assert receiver.ids() == [done["event_id"]]
