"""Each state change announces exactly its audit record and its events, to exactly the tenants
concerned — and a refused change announces nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.announcements import Announced, announced
from tests.channel.helpers import accept, invite, provider_and_reseller
from tests.commerce.helpers import World, place_order, subscribe, two_tier_world
from tests.customers.helpers import customer_of, invite_customer, token
from tests.factories import Org, make_operator, make_org
from twotier.config import Settings
from twotier.kit.db import Database


@dataclass
class Ids:
    """The world's tenants, by who they are."""

    provider: str
    reseller: str
    customer: str


async def _tenant_id(client: httpx.AsyncClient, org: Org) -> str:
    return str((await client.get("/api/v1/me", headers=org.auth)).json()["tenant"]["id"])


@pytest.fixture
async def world(
    client: httpx.AsyncClient, db: Database, settings: Settings, session: AsyncSession
) -> World:
    return await two_tier_world(client, db, settings, await make_operator(client, session))


@pytest.fixture
async def ids(client: httpx.AsyncClient, world: World) -> Ids:
    return Ids(
        await _tenant_id(client, world.provider),
        await _tenant_id(client, world.reseller),
        await _tenant_id(client, world.customer),
    )


async def one_call(call: Callable[[], Awaitable[httpx.Response]]) -> tuple[Announced, int]:
    with announced() as got:
        response = await call()
    return got, response.status_code


async def test_the_helper_counts_every_record_so_an_extra_one_fails(
    client: httpx.AsyncClient, world: World
) -> None:
    with announced() as once:
        await invite(client, world.provider, email="one@fabrikam.example")
    with announced() as twice:
        await invite(client, world.provider, email="one@fabrikam.example")
        await invite(client, world.provider, email="two@fabrikam.example")
    assert once.audit == ["reseller_invitation_created"]
    assert twice.audit == ["reseller_invitation_created", "reseller_invitation_created"]
    assert twice.audit != once.audit  # a call that wrote one more would fail its test


async def test_a_refused_change_announces_nothing(client: httpx.AsyncClient, world: World) -> None:
    got, status = await one_call(
        lambda: client.post(
            world.path("/orders"),
            json={"line_items": [], "attestation_accepted": False},
            headers=world.provider.auth | {"Idempotency-Key": "k-refused"},
        )
    )
    assert status == 422
    assert (got.audit, got.events) == ([], [])


async def test_accepting_a_two_tier_invitation(
    client: httpx.AsyncClient, world: World, ids: Ids
) -> None:
    invitation = await invite_customer(client, world.reseller, world.provider_account_id)
    newcomer = await make_org(client, name="Tailspin Toys")
    got, status = await one_call(
        lambda: client.post(
            f"/api/v1/invitations/{token(invitation)}/accept",
            json={"authorize": True},
            headers=newcomer.auth,
        )
    )
    assert status == 200
    assert got.audit == ["indirect_reseller_relationship_accepted"]
    assert got.events == [
        "customer_invitation_accepted",
        "relationship_created",
        "relationship_created",
        "delegated_access_granted",
        "delegated_access_granted",
    ]
    newcomer_id = await _tenant_id(client, newcomer)
    assert got.audience_of("customer_invitation_accepted") == {
        ids.reseller,
        ids.provider,
        newcomer_id,
    }
    granted = [set(e.audience) for e in got.told if e.type == "delegated_access_granted"]
    assert granted == [{ids.reseller, newcomer_id}, {ids.provider, newcomer_id}]


async def test_accepting_a_reseller_invitation(
    client: httpx.AsyncClient, db: Database, settings: Settings, session: AsyncSession
) -> None:
    provider, reseller = await provider_and_reseller(
        client, db, settings, await make_operator(client, session)
    )
    invitation = await invite(client, provider)
    got, status = await one_call(lambda: accept(client, reseller, invitation))
    assert status == 200
    assert got.audit == ["indirect_provider_authorized"]
    assert got.events == [
        "reseller_invitation_accepted",
        "link_created",
        "delegated_access_granted",
    ]
    both = {await _tenant_id(client, provider), await _tenant_id(client, reseller)}
    assert all(set(e.audience) == both for e in got.told)


async def test_ending_a_link(client: httpx.AsyncClient, world: World, ids: Ids) -> None:
    got, status = await one_call(
        lambda: client.delete(
            f"/api/v1/indirect-resellers/{world.reseller_account_id}", headers=world.provider.auth
        )
    )
    assert status == 204
    assert got.audit == ["indirect_link_terminated"]
    assert got.events == ["link_terminated", "delegated_access_revoked"]
    assert got.audience_of("link_terminated") == {ids.provider, ids.reseller}


async def test_the_customer_removing_its_reseller(
    client: httpx.AsyncClient, world: World, ids: Ids
) -> None:
    got, status = await one_call(
        lambda: client.delete(
            f"/api/v1/my/partners/{world.reseller_account_id}", headers=world.customer.auth
        )
    )
    assert status == 204
    assert got.audit == ["customer_relationship_ended"]
    assert got.events == ["relationship_ended", "delegated_access_revoked"]
    assert got.audience_of("relationship_ended") == {ids.reseller, ids.provider, ids.customer}


async def test_dropping_roles_and_asking_to_extend(
    client: httpx.AsyncClient, world: World, ids: Ids
) -> None:
    path = world.path("/delegated-access")
    [grant] = (await client.get(path, headers=world.reseller.auth)).json()["items"]
    got, status = await one_call(
        lambda: client.post(
            f"{path}/{grant['id']}/drop-roles",
            json={"roles": ["helpdesk_admin"]},
            headers=world.reseller.auth,
        )
    )
    assert status == 200
    assert got.audit == ["delegated_access_roles_dropped"]
    assert got.events == ["delegated_access_updated"]
    assert got.told[0].on_behalf_of_customer_id is not None
    assert got.audience_of("delegated_access_updated") == {ids.reseller, ids.customer}

    got, status = await one_call(
        lambda: client.post(
            f"{path}/{grant['id']}/extension-request",
            json={"duration_days": 30},
            headers=world.reseller.auth,
        )
    )
    assert status == 200
    assert (got.audit, got.events) == (["delegated_access_extension_requested"], [])

    got, status = await one_call(
        lambda: client.post(
            f"/api/v1/my/grants/{grant['id']}/extension/approve", headers=world.customer.auth
        )
    )
    assert status == 200
    assert (got.audit, got.events) == (["delegated_access_extended"], ["delegated_access_extended"])


async def test_an_order_and_a_change_of_its_subscription(
    client: httpx.AsyncClient, world: World, ids: Ids
) -> None:
    got, status = await one_call(lambda: place_order(client, world))
    assert status == 201
    assert got.audit == ["order_created"]
    assert got.events == ["order_created", "subscription_created"]
    assert got.audience_of("order_created") == {ids.provider, ids.reseller, ids.customer}

    sub = await subscribe(client, world, 3)
    path = world.path(f"/subscriptions/{sub['id']}")
    etag = (await client.get(path, headers=world.provider.auth)).headers["ETag"]
    got, status = await one_call(
        lambda: client.patch(
            path, json={"quantity": 4}, headers=world.provider.auth | {"If-Match": etag}
        )
    )
    assert status == 200
    assert (got.audit, got.events) == (["subscription_updated"], ["subscription_updated"])

    etag = (await client.get(path, headers=world.provider.auth)).headers["ETag"]
    got, status = await one_call(
        lambda: client.patch(
            path, json={"quantity": 4}, headers=world.provider.auth | {"If-Match": etag}
        )
    )
    assert status == 200
    assert (got.audit, got.events) == ([], [])  # nothing changed, nothing announced


async def test_a_delegated_user_and_its_license(
    client: httpx.AsyncClient, world: World, ids: Ids
) -> None:
    await subscribe(client, world, 2)
    body = {
        "email": "ann@northwind.example",
        "display_name": "Ann",
        "password": "quiet orchard lantern 42",
        "roles": [],
    }
    with announced() as got:
        made = await client.post(world.path("/users"), json=body, headers=world.reseller.auth)
    assert made.status_code == 201, made.text
    assert (got.audit, got.events) == (["user_created"], [])
    assert got.records[0].on_behalf_of_customer_id is not None

    got, status = await one_call(
        lambda: client.post(
            world.path(f"/users/{made.json()['id']}/license-updates"),
            json={"add": [world.sku_id], "remove": []},
            headers=world.reseller.auth,
        )
    )
    assert status == 200
    assert (got.audit, got.events) == (["license_assigned"], ["license_assigned"])
    assert got.audience_of("license_assigned") == {ids.provider, ids.reseller, ids.customer}


async def test_a_direct_customer_invitation_and_its_revocation(
    client: httpx.AsyncClient, world: World, ids: Ids
) -> None:
    with announced() as got:
        invitation = await invite_customer(client, world.reseller)
    assert (got.audit, got.events) == (
        ["customer_invitation_created"],
        ["customer_invitation_created"],
    )
    assert got.audience_of("customer_invitation_created") == {ids.reseller}
    got, status = await one_call(
        lambda: client.post(
            f"/api/v1/customer-invitations/{invitation['id']}/revoke",
            headers=world.reseller.auth,
        )
    )
    assert status == 200
    assert (got.audit, got.events) == (["invitation_revoked"], ["customer_invitation_revoked"])


async def test_signing_in_is_audited_and_tells_nobody(
    client: httpx.AsyncClient, world: World
) -> None:
    await customer_of(client, world.reseller, None, name="Lucerne Publishing")
    got, status = await one_call(
        lambda: client.post(
            "/api/v1/auth/token",
            json={"email": world.customer.email, "password": world.customer.password},
        )
    )
    assert status == 200
    assert (got.audit, got.events) == (["signed_in"], [])
