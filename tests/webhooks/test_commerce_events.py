"""Commerce events reach the reseller, the provider and the customer, signed, with who acted
and for whom."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.commerce.helpers import subscribe, two_tier_world
from tests.factories import PASSWORD, make_operator, unique
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import deliver, register, verify
from twotier.config import Settings
from twotier.kit.db import Database

COMMERCE = [
    "order_created",
    "subscription_created",
    "subscription_updated",
    "license_assigned",
    "license_unassigned",
]


async def test_order_subscription_and_license_events_reach_every_party(
    client: httpx.AsyncClient,
    session: AsyncSession,
    db: Database,
    settings: Settings,
    receiver: Receiver,
) -> None:
    operator = await make_operator(client, session)
    world = await two_tier_world(client, db, settings, operator)
    hooks = {
        "reseller": await register(client, world.reseller, receiver.url + "/reseller", COMMERCE),
        "customer": await register(client, world.customer, receiver.url + "/customer", COMMERCE),
    }
    sub = await subscribe(client, world, 2)
    changed = await client.patch(
        world.path(f"/subscriptions/{sub['id']}"),
        json={"quantity": 3},
        headers=world.provider.auth | {"If-Match": sub["etag"]},
    )
    assert changed.status_code == 200
    user = await client.post(
        world.path("/users"),
        json={
            "email": f"{unique('user')}@{world.customer.tenant['domain']}",
            "display_name": "Uma User",
            "password": PASSWORD,
            "roles": [],
        },
        headers=world.reseller.auth,
    )
    for change in ({"add": [world.sku_id]}, {"remove": [world.sku_id]}):
        response = await client.post(
            world.path(f"/users/{user.json()['id']}/license-updates"),
            json=change,
            headers=world.reseller.auth,
        )
        assert response.status_code == 200

    await deliver(db, settings)

    for party, hook in hooks.items():
        got = [r for r in receiver.received if r.path.endswith(f"/{party}")]
        payloads = [verify(hook["secret"], r) for r in got]
        assert [p["type"] for p in payloads] == COMMERCE, party
        assert {p["on_behalf_of_customer_id"] for p in payloads} == {world.customer.id}
        order = payloads[0]
        assert (
            order["resource"]["uri"]
            == f"/api/v1/customers/{world.customer.id}/orders/{sub['order_id']}"
        )
        assert order["data"]["line_items"][0]["partner_id_on_record"] == world.reseller_partner_id
        updated = payloads[2]
        assert updated["data"]["changes"] == {"quantity": {"from": 2, "to": 3}}
        assigned = payloads[3]
        assert assigned["data"]["skus"][0]["id"] == world.sku_id
        # The reseller acted for the customer; the provider ordered.
        assert assigned["partner_id"] == world.reseller_partner_id
        assert order["partner_id"] != world.reseller_partner_id
