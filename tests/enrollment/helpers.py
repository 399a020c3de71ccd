"""Walking an organization through enrollment, as the API tests need it."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.factories import Org, enrollment_body, mailbox, make_membership
from twotier.config import Settings
from twotier.kit.db import Database
from twotier.kit.outbox import Worker


async def deliver(db: Database, settings: Settings) -> None:
    await Worker(db, settings).run_once()


async def latest_mail(client: httpx.AsyncClient, to: str) -> dict[str, str]:
    items = await mailbox(client, to)
    assert items, f"no mail to {to}"
    return dict(items[-1])


def token_from(body: str) -> str:
    match = re.search(r"/enroll/verify\?token=([A-Za-z0-9_\-]+)", body)
    assert match, body
    return match.group(1)


async def submit(
    client: httpx.AsyncClient, org: Org, operator: dict[str, str], **kwargs: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    membership = await make_membership(client, operator)
    body = enrollment_body(membership, **kwargs)
    response = await client.post("/api/v1/enrollments", json=body, headers=org.auth)
    assert response.status_code == 201, response.text
    return response.json(), body


async def verify(
    client: httpx.AsyncClient, db: Database, settings: Settings, contact_email: str
) -> dict[str, Any]:
    await deliver(db, settings)
    token = token_from((await latest_mail(client, contact_email))["body"])
    response = await client.post("/api/v1/enrollments/verify-email", json={"token": token})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def approved_partner(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    org: Org,
    operator: dict[str, str],
    program: str = "indirect_reseller",
    company: str | None = None,
) -> dict[str, Any]:
    """Enroll ``org``, confirm the email, approve it; returns the enrollment."""
    extra = {"company": company} if company else {}
    enrollment, body = await submit(client, org, operator, program=program, **extra)
    await verify(client, db, settings, body["primary_contact"]["email"])
    approved = await client.post(
        f"/api/v1/operator/enrollments/{enrollment['id']}/approve", headers=operator
    )
    assert approved.status_code == 200, approved.text
    return dict(approved.json())
