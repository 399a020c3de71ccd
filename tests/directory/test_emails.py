"""The directory's emails go through the outbox and land in the dev mailbox."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import PASSWORD, mailbox, make_operator, make_org, tenant_body, unique
from twotier.app import create_app
from twotier.config import Settings
from twotier.kit.db import Database
from twotier.kit.outbox import OutboxMessage, Worker


async def test_new_tenant_admin_gets_a_welcome_email_after_delivery(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    body = tenant_body("Contoso Ltd")
    await client.post("/api/v1/tenants", json=body)
    email = body["admin"]["email"]
    assert await mailbox(client, email) == []  # not before the worker delivers
    await Worker(db, settings).run_once()
    [message] = await mailbox(client, email)
    assert "Contoso Ltd" in message["subject"]
    assert "http://testserver/signin" in message["body"]


async def test_added_user_is_told_by_email(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    org = await make_org(client)
    email = f"{unique('new')}@{org.tenant['domain']}"
    await client.post(
        "/api/v1/tenant/users",
        json={"email": email, "display_name": "Nora", "password": PASSWORD, "roles": []},
        headers=org.auth,
    )
    await Worker(db, settings).run_once()
    [message] = await mailbox(client, email.upper())
    assert org.tenant["display_name"] in message["subject"]
    assert "Ada Admin" in message["body"]


async def test_refused_request_sends_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first = tenant_body()
    await client.post("/api/v1/tenants", json=first)
    before = len((await session.scalars(select(OutboxMessage.id))).all())
    clash = tenant_body(domain=first["domain"])
    assert (await client.post("/api/v1/tenants", json=clash)).status_code == 409
    after = len((await session.scalars(select(OutboxMessage.id))).all())
    assert after == before


async def test_only_a_signed_in_operator_reads_the_dev_mailbox(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    org = await make_org(client)  # its welcome email carries nothing a stranger may read
    await Worker(db, settings).run_once()
    operator = await make_operator(client, session)

    signed_out = await client.get("/api/v1/dev/mailbox", params={"to": org.email})
    tenant_admin = await client.get("/api/v1/dev/mailbox", headers=org.auth)
    as_operator = await client.get(
        "/api/v1/dev/mailbox", params={"to": org.email}, headers=operator
    )

    assert signed_out.status_code == 401
    assert tenant_admin.status_code == 403
    assert tenant_admin.json()["code"] == "insufficient_role"
    assert org.email not in signed_out.text + tenant_admin.text
    assert as_operator.status_code == 200
    assert [m["to"] for m in as_operator.json()["items"]] == [org.email]


async def test_dev_mailbox_page_is_for_the_operator_alone(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    org = await make_org(client)
    await Worker(db, settings).run_once()
    operator_auth = await make_operator(client, session)

    signed_out = await client.get("/dev/mailbox")
    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/signin")
    tenant_page = await client.get("/dev/mailbox", headers=org.auth)
    assert tenant_page.status_code == 404
    assert org.email not in tenant_page.text
    operator_page = await client.get("/dev/mailbox", headers=operator_auth)
    assert operator_page.status_code == 200
    assert org.email in operator_page.text


async def test_mailbox_api_is_absent_with_the_smtp_backend(
    settings: Settings, db: Database, session: AsyncSession
) -> None:
    smtp = settings.model_copy(update={"email_backend": "smtp"})
    transport = httpx.ASGITransport(app=create_app(smtp, db=db))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        operator = await make_operator(client, session)
        assert (await client.get("/api/v1/dev/mailbox", headers=operator)).status_code == 404
        assert (await client.get("/dev/mailbox", headers=operator)).status_code == 404
        assert (await client.get("/api/v1/me", headers=operator)).status_code == 200
