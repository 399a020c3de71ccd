"""The two partner lists, View customers, and ending a link from either side."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.channel.helpers import accept, approved, invite, provider_and_reseller, token_of
from tests.customers.helpers import linked_pair
from tests.enrollment.helpers import deliver
from tests.factories import OPERATOR_PASSWORD, Org, mailbox, sign_in
from tests.statements import statements
from twotier.channel.models import ResellerLink
from twotier.config import Settings
from twotier.kit.db import Database
from twotier.operator.service import create_operator


@pytest.fixture
async def linked(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> tuple[Org, Org, str, str]:
    return await linked_pair(client, db, settings, operator)


async def test_reseller_ends_the_link_and_both_lists_lose_it(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    linked: tuple[Org, Org, str, str],
) -> None:
    provider, reseller, provider_id, _reseller_id = linked
    response = await client.delete(
        f"/api/v1/indirect-providers/{provider_id}", headers=reseller.auth
    )
    assert response.status_code == 204
    assert (await client.get("/api/v1/indirect-providers", headers=reseller.auth)).json()[
        "items"
    ] == []
    assert (await client.get("/api/v1/indirect-resellers", headers=provider.auth)).json()[
        "items"
    ] == []
    ended = await client.get(
        "/api/v1/indirect-providers", params={"status": "terminated"}, headers=reseller.auth
    )
    [row] = ended.json()["items"]
    assert row["status"] == "terminated"
    assert row["access"]["status"] == "revoked"
    again = await client.delete(f"/api/v1/indirect-providers/{provider_id}", headers=reseller.auth)
    assert again.status_code == 404
    await deliver(db, settings)
    for org in (provider, reseller):
        contact = (await client.get("/api/v1/partner", headers=org.auth)).json()["primary_contact"][
            "email"
        ]
        items = await mailbox(client, contact)
        assert any("no longer connected" in m["subject"] for m in items)


async def test_provider_ends_the_link_at_once(
    client: httpx.AsyncClient, linked: tuple[Org, Org, str, str]
) -> None:
    provider, reseller, provider_id, reseller_id = linked
    response = await client.delete(
        f"/api/v1/indirect-resellers/{reseller_id}", headers=provider.auth
    )
    assert response.status_code == 204
    customers = await client.get(
        f"/api/v1/indirect-resellers/{reseller_id}/customers", headers=provider.auth
    )
    assert customers.status_code == 404
    assert (
        await client.get(
            f"/api/v1/indirect-providers/{provider_id}/customers", headers=reseller.auth
        )
    ).status_code == 404


async def test_reinviting_after_the_end_creates_a_new_link(
    client: httpx.AsyncClient, session: AsyncSession, linked: tuple[Org, Org, str, str]
) -> None:
    provider, reseller, provider_id, _reseller_id = linked
    await client.delete(f"/api/v1/indirect-providers/{provider_id}", headers=reseller.auth)
    invitation = await invite(client, provider)
    assert (await accept(client, reseller, invitation)).status_code == 200
    [row] = (await client.get("/api/v1/indirect-providers", headers=reseller.auth)).json()["items"]
    assert row["status"] == "active"
    total = await session.scalar(select(func.count()).select_from(ResellerLink))
    assert total == 2


async def test_view_customers_answers_for_a_linked_partner(
    client: httpx.AsyncClient, linked: tuple[Org, Org, str, str]
) -> None:
    provider, reseller, provider_id, reseller_id = linked
    mine = await client.get(
        f"/api/v1/indirect-providers/{provider_id}/customers", headers=reseller.auth
    )
    assert mine.status_code == 200
    assert mine.json() == {"items": [], "next_cursor": None}
    theirs = await client.get(
        f"/api/v1/indirect-resellers/{reseller_id}/customers", headers=provider.auth
    )
    assert theirs.status_code == 200


async def test_strangers_get_404_for_every_link_endpoint(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    linked: tuple[Org, Org, str, str],
) -> None:
    _provider, _reseller, provider_id, reseller_id = linked
    other_provider = await approved(client, db, settings, operator, "indirect_provider")
    other_reseller = await approved(client, db, settings, operator, "indirect_reseller")
    checks = (
        (other_provider, "GET", f"/api/v1/indirect-resellers/{reseller_id}/customers"),
        (other_provider, "DELETE", f"/api/v1/indirect-resellers/{reseller_id}"),
        (other_reseller, "GET", f"/api/v1/indirect-providers/{provider_id}/customers"),
        (other_reseller, "DELETE", f"/api/v1/indirect-providers/{provider_id}"),
        (other_reseller, "GET", f"/api/v1/indirect-providers/{uuid.uuid4()}/customers"),
    )
    for org, method, path in checks:
        response = await client.request(method, path, headers=org.auth)
        assert response.status_code == 404, (method, path)
        assert response.json()["code"] == "link_not_found"
    assert (await client.get("/api/v1/indirect-resellers", headers=other_provider.auth)).json()[
        "items"
    ] == []


async def test_the_lists_need_the_right_program(
    client: httpx.AsyncClient, linked: tuple[Org, Org, str, str]
) -> None:
    provider, reseller, _p, _r = linked
    assert (
        await client.get("/api/v1/indirect-providers", headers=provider.auth)
    ).status_code == 403
    assert (
        await client.get("/api/v1/indirect-resellers", headers=reseller.auth)
    ).status_code == 403


@pytest.mark.committed
async def test_two_concurrent_accepts_create_one_link(
    committed_client: httpx.AsyncClient, committed_db: Database, settings: Settings
) -> None:
    async with committed_db.write_sessions() as session, session.begin():
        await create_operator(
            session, email="ops@race.example", password=OPERATOR_PASSWORD, name="Ops"
        )
    token = await sign_in(committed_client, "ops@race.example", OPERATOR_PASSWORD)
    operator = {"Authorization": f"Bearer {token}"}
    provider, reseller = await provider_and_reseller(
        committed_client, committed_db, settings, operator
    )
    invitation = await invite(committed_client, provider)
    responses = await asyncio.gather(
        *(
            committed_client.post(
                f"/api/v1/invitations/{token_of(invitation)}/accept",
                json={"authorize": True},
                headers=reseller.auth,
            )
            for _ in range(5)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 1, [r.text for r in responses]
    assert all(c in (200, 409, 410) for c in codes)
    async with committed_db.read_sessions() as s:
        assert await s.scalar(select(func.count()).select_from(ResellerLink)) == 1


async def test_each_side_lists_its_links_with_the_principal_and_one_read(
    client: httpx.AsyncClient, engine: AsyncEngine, linked: tuple[Org, Org, str, str]
) -> None:
    provider, reseller, provider_id, reseller_id = linked
    for org, path, other in (
        (provider, "/api/v1/indirect-resellers", reseller_id),
        (reseller, "/api/v1/indirect-providers", provider_id),
    ):
        with statements(engine) as seen:
            response = await client.get(path, headers=org.auth)
        assert response.status_code == 200
        [link] = response.json()["items"]
        assert link["id"] == other
        assert link["access"]["status"] == "active"
        assert len(seen) == 2, seen  # the principal, then the page (links, names, grants)
