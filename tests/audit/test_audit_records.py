"""Who sees which audit records: partner, customer, operator, stranger."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.audit.helpers import forged
from tests.customers.helpers import customer_of, linked_pair
from tests.factories import PASSWORD, make_operator, make_org, make_user, sign_in
from twotier.audit.chain import seal
from twotier.config import Settings
from twotier.kit.db import Database


async def test_scoping_matrix(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await make_operator(client, session)
    _provider, reseller, provider_id, _rid = await linked_pair(client, db, settings, operator)
    customer = await customer_of(client, reseller, provider_id)
    body = {
        "email": f"nia@{customer.tenant['domain']}",
        "display_name": "Nia",
        "password": PASSWORD,
        "roles": [],
    }
    made = await client.post(
        f"/api/v1/customers/{customer.id}/users", json=body, headers=reseller.auth
    )
    assert made.status_code == 201

    def created_users(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            r
            for r in items
            if r["operation"] == "user_created" and r["on_behalf_of_customer_id"] == customer.id
        ]

    seen_by_customer = (
        await client.get("/api/v1/audit-records", params={"limit": 200}, headers=customer.auth)
    ).json()["items"]
    [delegated] = created_users(seen_by_customer)
    reseller_pid = (await client.get("/api/v1/partner", headers=reseller.auth)).json()["partner_id"]
    assert delegated["actor"]["partner_id"] == reseller_pid
    assert delegated["resource_id"] == made.json()["id"]

    seen_by_reseller = (
        await client.get("/api/v1/audit-records", params={"limit": 200}, headers=reseller.auth)
    ).json()["items"]
    assert created_users(seen_by_reseller)
    assert {r["operation"] for r in seen_by_reseller} >= {"indirect_provider_authorized"}

    stranger = await make_org(client)
    seen_by_stranger = (
        await client.get("/api/v1/audit-records", params={"limit": 200}, headers=stranger.auth)
    ).json()["items"]
    assert created_users(seen_by_stranger) == []
    assert all(r["actor"]["tenant_id"] == stranger.id for r in seen_by_stranger)

    seen_by_operator = (
        await client.get(
            "/api/v1/audit-records",
            params={"operation": "user_created", "limit": 200},
            headers=operator,
        )
    ).json()["items"]
    assert created_users(seen_by_operator)
    assert {r["operation"] for r in seen_by_operator} == {"user_created"}

    _u, plain = await make_user(client, customer)
    refused = await client.get(
        "/api/v1/audit-records", headers={"Authorization": f"Bearer {plain}"}
    )
    assert refused.status_code == 403


async def test_time_window_filters(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    everything = (await client.get("/api/v1/audit-records", headers=org.auth)).json()["items"]
    assert everything
    first_at = everything[0]["at"]
    after = (
        await client.get(
            "/api/v1/audit-records", params={"since": "2999-01-01T00:00:00"}, headers=org.auth
        )
    ).json()["items"]
    assert after == []
    before = (
        await client.get("/api/v1/audit-records", params={"until": first_at}, headers=org.auth)
    ).json()["items"]
    assert before == []
    # ISO 8601 only: a number is not taken as a Unix time.
    for wrong in ("0.5", "1700000000", "yesterday"):
        refused = await client.get(
            "/api/v1/audit-records", params={"until": wrong}, headers=org.auth
        )
        assert refused.status_code == 422, wrong


async def test_sign_in_events_are_audited(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    wrong = await client.post(
        "/api/v1/auth/token", json={"email": org.email, "password": "not the password"}
    )
    assert wrong.status_code == 401
    token = await sign_in(client, org.email)
    ended = await client.delete("/api/v1/auth/token", headers={"Authorization": f"Bearer {token}"})
    assert ended.status_code == 204
    records = (
        await client.get("/api/v1/audit-records", params={"limit": 200}, headers=org.auth)
    ).json()["items"]
    operations = [r["operation"] for r in records]
    assert operations[-3:] == ["sign_in_failed", "signed_in", "token_revoked"]
    failed = records[-3]
    assert failed["detail"]["email"] == org.email
    assert all(r["actor"]["tenant_id"] == org.id for r in records[-3:])


async def test_a_partner_sees_its_actions_and_a_customer_everything_done_in_it(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await make_operator(client, session)
    _provider, reseller, provider_id, _rid = await linked_pair(client, db, settings, operator)
    customer = await customer_of(client, reseller, provider_id)
    stranger = await make_org(client)
    own, _t = await make_user(client, customer)  # the customer's own act
    body = {
        "email": f"kai@{customer.tenant['domain']}",
        "display_name": "Kai",
        "password": PASSWORD,
    }
    delegated = await client.post(
        f"/api/v1/customers/{customer.id}/users", json=body | {"roles": []}, headers=reseller.auth
    )
    assert delegated.status_code == 201

    async def seen(headers: dict[str, str]) -> set[str | None]:
        items = (
            await client.get(
                "/api/v1/audit-records",
                params={"resource_type": "user", "operation": "user_created", "limit": 200},
                headers=headers,
            )
        ).json()["items"]
        return {r["resource_id"] for r in items}

    assert await seen(customer.auth) >= {own["id"], delegated.json()["id"]}
    assert delegated.json()["id"] in await seen(reseller.auth)
    assert own["id"] not in await seen(reseller.auth)
    assert await seen(stranger.auth) & {own["id"], delegated.json()["id"]} == set()
    assert await seen(operator) >= {own["id"], delegated.json()["id"]}


@pytest.mark.parametrize("newest_first", [False, True])
async def test_paging_walks_every_record_once_in_order(
    client: httpx.AsyncClient, newest_first: bool
) -> None:
    org = await make_org(client)
    for _ in range(6):  # each sign-in leaves a record in the tenant
        await sign_in(client, org.email)
    params: dict[str, str | int] = {"limit": 2, "newest_first": str(newest_first).lower()}
    whole = (
        await client.get("/api/v1/audit-records", params=params | {"limit": 200}, headers=org.auth)
    ).json()["items"]
    assert len(whole) >= 7
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = (
            await client.get(
                "/api/v1/audit-records",
                params=params | ({"cursor": cursor} if cursor else {}),
                headers=org.auth,
            )
        ).json()
        assert len(page["items"]) <= 2
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [r["id"] for r in whole]
    stamps = [r["at"] for r in whole]
    assert stamps == sorted(stamps, reverse=newest_first)


async def test_records_the_sealer_refused_leave_the_activity_log(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    org = await make_org(client)
    forgery = forged(actor_tenant_id=uuid.UUID(org.id), subject_tenant_id=uuid.UUID(org.id))
    session.add(forgery)
    await session.flush()

    async def listed() -> list[str]:
        items = (
            await client.get("/api/v1/audit-records", params={"limit": 200}, headers=org.auth)
        ).json()["items"]
        return [r["id"] for r in items]

    assert str(forgery.id) in await listed()  # not sealed yet: nothing has looked at it
    await seal(db, settings)
    after = await listed()
    assert str(forgery.id) not in after
    assert len(after) >= 2  # the tenant's own records stay
