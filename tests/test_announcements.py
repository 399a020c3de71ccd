"""Exactly which audit records and events one call writes (tests/announcements.py).

First the capture itself: it sees a request through ``client`` and a direct service call,
whatever way the rows are inserted, only inside its block, and an extra record fails the
exact comparison. Then the table: every state-changing operation of the API, called once,
with the ordered audit operations and event types (and each event's audience) it must
write, and nothing more. A new write operation of the API fails the table until it has a
case.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from tests.announcements import announced, tenant_ids
from tests.conftest import RolledBackDatabase
from tests.factories import make_org, unique
from tests.worlds import HOOK_HOST, PASSWORD, Builder, World
from tests.worlds import Org as WorldOrg
from twotier.app import create_app
from twotier.audit import service as audit
from twotier.audit.models import AuditRecord
from twotier.commerce import renewals
from twotier.commerce import service as commerce
from twotier.commerce.schemas import OrderCreate, SubscriptionPatch
from twotier.config import Settings
from twotier.directory import service as directory
from twotier.directory.auth import CSRF_COOKIE, CSRF_PURPOSE, SESSION_COOKIE
from twotier.directory.schemas import AdminIn, TenantCreate
from twotier.events import service as events
from twotier.events.catalog import EventType
from twotier.events.models import Event
from twotier.kit import clock
from twotier.kit.security import sign
from twotier.membership import service as membership
from twotier.membership.schemas import MembershipCreate, OrganizationIn
from twotier.models import Base
from twotier.webhooks import service as webhooks

# --- The capture ----------------------------------------------------------------------------

AUDIT_TABLE = Base.metadata.tables[AuditRecord.__tablename__]
EVENT_TABLE = Base.metadata.tables[Event.__tablename__]


def _webhook_body() -> dict[str, Any]:
    return {"url": f"{HOOK_HOST}/hooks/{unique('feed')}", "events": ["order_created"]}


async def test_a_request_through_the_client_is_seen(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    async with announced() as got:
        response = await client.post("/api/v1/webhooks", json=_webhook_body(), headers=org.auth)
    assert response.status_code == 201, response.text
    assert got.audit == ["webhook_created"]
    assert got.events == []
    record = got.record("webhook_created")
    assert str(record.actor_tenant_id) == org.id
    assert record.resource_id == response.json()["id"]


async def test_an_extra_record_fails_the_exact_comparison(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison can fail: a service that writes one record too many is caught."""
    org = await make_org(client)
    create = webhooks.create

    async def create_and_record_twice(
        session: AsyncSession, settings: Settings, *args: Any, **kwargs: Any
    ) -> Any:
        endpoint, secret = await create(session, settings, *args, **kwargs)
        audit.record(
            session, operation="webhook_created", resource_type="webhook_endpoint", resource_id=None
        )
        return endpoint, secret

    monkeypatch.setattr(webhooks, "create", create_and_record_twice)
    async with announced() as got:
        response = await client.post("/api/v1/webhooks", json=_webhook_body(), headers=org.auth)
    assert response.status_code == 201, response.text
    with pytest.raises(AssertionError):
        assert got.audit == ["webhook_created"]
    assert got.audit == ["webhook_created", "webhook_created"]
    with pytest.raises(AssertionError, match="2 'webhook_created' records"):
        got.record("webhook_created")


async def test_a_direct_service_call_is_seen_once_its_session_is_flushed(
    session: AsyncSession, settings: Settings
) -> None:
    slug = unique()
    data = TenantCreate(
        display_name=f"Org {slug}",
        domain=f"{slug}.example",
        country="TW",
        admin=AdminIn(
            email=f"admin@{slug}.example",
            display_name="Ada Admin",
            password="correct horse battery",
        ),
    )
    async with announced(session) as got:
        tenant, _admin = await directory.create_tenant(session, settings, data)
        await events.emit(
            session,
            EventType.enrollment_submitted,
            resource_type="tenant",
            resource_id=tenant.id,
            resource_uri=None,
            actor=None,
            audience=[tenant.id, None, tenant.id],
        )
    assert got.audit == ["tenant_created"]
    assert got.events == ["enrollment_submitted"]
    assert got.audience("enrollment_submitted") == tenant_ids(tenant.id)


async def test_rows_are_seen_however_they_are_inserted(session: AsyncSession) -> None:
    """A flush, an ORM bulk insert, a Core insert with one row or many: all are seen."""

    def row(operation: str) -> dict[str, Any]:
        return {"id": uuid.uuid4(), "operation": operation, "resource_type": "thing"}

    def event_row(type_: str) -> dict[str, Any]:
        return {"id": uuid.uuid4(), "type": type_, "resource_type": "thing", "resource_id": "1"}

    async with announced() as got:
        session.add(AuditRecord(**row("added")))
        await session.flush()
        await session.execute(insert(AuditRecord), [row("bulk 1"), row("bulk 2")])
        await session.execute(insert(AUDIT_TABLE).values(**row("core values")))
        await session.execute(
            insert(EVENT_TABLE).values([event_row("core row 1"), event_row("core row 2")])
        )
        connection = await session.connection()
        await connection.execute(insert(EVENT_TABLE), event_row("connection"))
    assert got.audit == ["added", "bulk 1", "bulk 2", "core values"]
    assert got.events == ["core row 1", "core row 2", "connection"]


async def test_only_what_is_written_inside_the_block_is_seen(session: AsyncSession) -> None:
    def write(operation: str) -> None:
        audit.record(session, operation=operation, resource_type="thing", resource_id=None)

    write("before")
    await session.flush()
    async with announced(session) as outer:
        write("outer")
        await session.flush()
        async with announced(session) as inner:
            write("inner")
        write("outer again")
    write("after")
    await session.flush()
    assert outer.audit == ["outer", "inner", "outer again"]
    assert inner.audit == ["inner"]


async def test_pending_rows_of_a_session_not_given_are_not_seen(session: AsyncSession) -> None:
    async with announced() as got:
        audit.record(session, operation="pending", resource_type="thing", resource_id=None)
    await session.flush()
    assert got.audit == []


# --- Every state-changing operation of the API ----------------------------------------------
#
# One world (tests/worlds.py: the operator and the catalog, chain 1 P1 → R1 → C1, R4, the
# stranger S, enrollments E1 in review and E2 waiting for its email, plus what ``_extras``
# adds), built once for the module. Each case sends one request to an app whose commits are
# undone, so every case starts from the same world, and compares what it wrote, in order.
#
# Each expectation comes from reading the service. ``doubt`` says where what the service
# announces looks wrong: the table pins today's behaviour, so a fix shows up here.


class _Undone(AsyncSession):
    """A request's commit writes everything (a real commit flushes first), then undoes it."""

    async def commit(self) -> None:
        await self.flush()
        await self.rollback()


class UndoneDatabase(RolledBackDatabase):
    session_class = _Undone


@dataclass(frozen=True)
class Announcement:
    type: str
    audience: frozenset[str]  # tenant labels of the world ("P1", "operator"...)


def ev(type_: str, *audience: str) -> Announcement:
    return Announcement(type_, frozenset(audience))


@dataclass(frozen=True)
class Case:
    id: str
    actor: str | None  # a world actor; None: no one signed in
    method: str
    path: str  # "{label}" is that object's id (or token) in the world
    body: dict[str, Any] | None = None  # "@label" strings are the world's ids
    audit: tuple[str, ...] = ()
    events: tuple[Announcement, ...] = ()
    status: int | None = None  # None: any success
    portal: bool = False  # a portal form (session cookie and CSRF), not the API
    on_behalf_of: str | None = None  # the customer every record and event names, if any
    doubt: str = ""  # what looks wrong in what the service announces


SUB = "/api/v1/customers/{C1}/subscriptions/{C1.subscription}"
GRANT = "/api/v1/customers/{C1}/delegated-access/{C1.grant.R1}"
C1_MEMBER = "/api/v1/customers/{C1}/users/{C1.member}"
R1_HOOK = "/api/v1/webhooks/{R1.webhook}"
NEW_PASSWORD = "quartz lantern meadow 8841"
ORDER = {
    "line_items": [
        {"offer_id": "@catalog.offer", "quantity": 1, "partner_id_on_record": "@R1.partner_id"}
    ],
    "attestation_accepted": True,
}
SUPPORT = {"email": "help@wrenfield-r1.example", "website": "https://wrenfield-r1.example/help"}
LEGAL = {
    "company_name": "Wrenfield Channel Group Ltd",
    "address": {
        "line1": "2 Wrenfield Road",
        "city": "Taipei",
        "postal_code": "110",
        "country": "TW",
    },
}

CASES: tuple[Case, ...] = (
    # Tenants, sign-in and tokens.
    Case(
        "tenant create",
        None,
        "POST",
        "/api/v1/tenants",
        {
            "display_name": "Nova Holdings",
            "domain": "nova-new.example",
            "country": "TW",
            "admin": {
                "email": "admin@nova-new.example",
                "display_name": "Nia Nova",
                "password": PASSWORD,
            },
        },
        audit=("tenant_created",),
        status=201,
    ),
    Case(
        "sign-in (API token)",
        None,
        "POST",
        "/api/v1/auth/token",
        {"email": "admin@yarrow-c1.example", "password": PASSWORD},
        audit=("signed_in",),
    ),
    Case(
        "sign-in failed (kept with its counters)",
        None,
        "POST",
        "/api/v1/auth/token",
        {"email": "admin@yarrow-c1.example", "password": "not the password at all"},
        audit=("sign_in_failed",),
        status=401,
    ),
    Case(
        "sign-in (portal, replacing the old session)",
        "C1",
        "POST",
        "/signin",
        {"email": "admin@yarrow-c1.example", "password": PASSWORD, "next": "/"},
        audit=("signed_in", "session_replaced"),
        status=303,
        portal=True,
    ),
    Case(
        "sign-out (portal)",
        "C1",
        "POST",
        "/signout",
        {},
        audit=("signed_out",),
        status=303,
        portal=True,
    ),
    Case(
        "token revocation (API sign-out)",
        "C1.member",
        "DELETE",
        "/api/v1/auth/token",
        audit=("token_revoked",),
        status=204,
    ),
    Case(
        "password change",
        "C1.member",
        "POST",
        "/api/v1/me/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        audit=("user_password_changed",),
    ),
    # The tenant's own users.
    Case(
        "user create (own tenant)",
        "C1",
        "POST",
        "/api/v1/tenant/users",
        {"email": "new@yarrow-c1.example", "display_name": "Nel New", "password": PASSWORD},
        audit=("user_created",),
        status=201,
    ),
    Case(
        "user update (own tenant)",
        "C1",
        "PATCH",
        "/api/v1/tenant/users/{C1.member}",
        {"display_name": "Mo Renamed"},
        audit=("user_updated",),
    ),
    Case(
        "user deactivate (own tenant; the user's tokens end with it)",
        "C1",
        "PATCH",
        "/api/v1/tenant/users/{C1.member}",
        {"is_active": False},
        audit=("user_updated",),
    ),
    Case(
        "user update that changes nothing",
        "C1",
        "PATCH",
        "/api/v1/tenant/users/{C1.member}",
        {"display_name": "Mo Yarrow"},
    ),
    Case(
        "user password reset (own tenant)",
        "C1",
        "POST",
        "/api/v1/tenant/users/{C1.member}/password-reset",
        audit=("user_password_reset",),
    ),
    # Enrollment.
    Case(
        "enrollment submit",
        "N",
        "POST",
        "/api/v1/enrollments",
        {
            "program": "indirect_reseller",
            "membership": {
                "username": "nimbus-member",
                "password": PASSWORD,
                "partner_id": "7350001",
            },
            "legal_profile": {
                "company_name": "Nimbus Channel Ltd",
                "address": {
                    "line1": "1 Nimbus Road",
                    "city": "Taipei",
                    "postal_code": "110",
                    "country": "TW",
                },
            },
            "primary_contact": {
                "first_name": "Nora",
                "last_name": "Nimbus",
                "email": "contact@nimbus-n.example",
                "phone": "+886 2 2720 1234",
            },
            "support_profile": {"email": "support@nimbus-n.example"},
        },
        audit=("enrollment_submitted",),
        events=(ev("enrollment_submitted", "N"),),
        status=201,
    ),
    Case(
        "enrollment of a second program (an approved partner's shortcut)",
        "R1",
        "POST",
        "/api/v1/enrollments",
        {"program": "indirect_provider", "support_profile": {"email": "help@wrenfield.example"}},
        audit=("partner_program_added",),
        events=(ev("enrollment_approved", "R1", "operator"),),
        status=201,
    ),
    Case(
        "enrollment resend verification",
        "E2",
        "POST",
        "/api/v1/enrollments/current/resend-verification",
        audit=("enrollment_verification_resent",),
    ),
    Case(
        "enrollment email confirm",
        None,
        "POST",
        "/api/v1/enrollments/verify-email",
        {"token": "@E2.verification"},
        audit=("enrollment_email_verified",),
        events=(ev("enrollment_verified", "E2", "operator"),),
    ),
    Case(
        "enrollment approve",
        "operator",
        "POST",
        "/api/v1/operator/enrollments/{E1.enrollment}/approve",
        audit=("enrollment_approved",),
        events=(ev("enrollment_approved", "E1", "operator"),),
    ),
    Case(
        "enrollment reject",
        "operator",
        "POST",
        "/api/v1/operator/enrollments/{E1.enrollment}/reject",
        {"reason": "Not a partner we can approve."},
        audit=("enrollment_rejected",),
        events=(ev("enrollment_rejected", "E1", "operator"),),
    ),
    Case(
        "membership create (operator)",
        "operator",
        "POST",
        "/api/v1/operator/memberships",
        {
            "username": "orbit-member",
            "password": PASSWORD,
            "organizations": [{"legal_name": "Orbit Ltd", "country": "TW"}],
        },
        audit=("membership_created",),
        status=201,
    ),
    Case(
        "membership lookup (changes nothing)",
        "N",
        "POST",
        "/api/v1/enrollment/membership-lookup",
        {"username": "nimbus-member", "password": PASSWORD},
    ),
    Case(
        "membership lookup failed (kept with its counters)",
        "N",
        "POST",
        "/api/v1/enrollment/membership-lookup",
        {"username": "nimbus-member", "password": "not the password at all"},
        status=401,
        doubt="a failed membership sign-in keeps its throttle counters but leaves no audit "
        "record, where a failed sign-in leaves sign_in_failed",
    ),
    # The partner's profile and roles.
    Case(
        "partner support profile update",
        "R1",
        "PATCH",
        "/api/v1/partner/support-profile",
        SUPPORT,
        audit=("partner_support_profile_updated",),
    ),
    Case(
        "partner legal profile update",
        "R1",
        "PATCH",
        "/api/v1/partner/legal-profile",
        LEGAL,
        audit=("partner_legal_profile_updated",),
        doubt="the company name linked partners and customers see changes; no event tells them",
    ),
    Case(
        "partner roles set",
        "R1",
        "PUT",
        "/api/v1/partner/users/{R1.helpdesk}/roles",
        {"partner_roles": ["sales_agent"]},
        audit=("partner_roles_updated",),
    ),
    # Provider ↔ reseller.
    Case(
        "reseller invitation create",
        "P1",
        "POST",
        "/api/v1/reseller-invitations",
        {"email": "partners@new-reseller.example"},
        audit=("reseller_invitation_created",),
        events=(ev("reseller_invitation_created", "P1"),),
        status=201,
    ),
    Case(
        "reseller invitation send",
        "P1",
        "POST",
        "/api/v1/reseller-invitations/{P1.invitation}/send",
        {},
        audit=("invitation_sent",),
        status=202,
    ),
    Case(
        "reseller invitation revoke",
        "P1",
        "POST",
        "/api/v1/reseller-invitations/{P1.invitation}/revoke",
        audit=("invitation_revoked",),
        events=(ev("reseller_invitation_revoked", "P1"),),
    ),
    Case(
        "reseller invitation accept",
        "R4",
        "POST",
        "/api/v1/invitations/{P1.token}/accept",
        {"authorize": True},
        audit=("indirect_provider_authorized",),
        events=(
            ev("reseller_invitation_accepted", "P1", "R4"),
            ev("link_created", "P1", "R4"),
            ev("delegated_access_granted", "P1", "R4"),
        ),
    ),
    Case(
        "link end by the provider",
        "P1",
        "DELETE",
        "/api/v1/indirect-resellers/{R1.account}",
        audit=("indirect_link_terminated",),
        events=(ev("link_terminated", "P1", "R1"), ev("delegated_access_revoked", "P1", "R1")),
        status=204,
    ),
    Case(
        "link end by the reseller",
        "R1",
        "DELETE",
        "/api/v1/indirect-providers/{P1.account}",
        audit=("indirect_link_terminated",),
        events=(ev("link_terminated", "P1", "R1"), ev("delegated_access_revoked", "P1", "R1")),
        status=204,
    ),
    # Reseller ↔ customer.
    Case(
        "customer invitation create (two-tier)",
        "R1",
        "POST",
        "/api/v1/indirect-providers/{P1.account}/customer-invitations",
        {"email": "it@new-customer.example"},
        audit=("customer_invitation_created",),
        events=(ev("customer_invitation_created", "R1", "P1"),),
        status=201,
    ),
    Case(
        "customer invitation create (direct)",
        "R1",
        "POST",
        "/api/v1/customer-invitations",
        {"email": "it@new-customer.example"},
        audit=("customer_invitation_created",),
        events=(ev("customer_invitation_created", "R1"),),
        status=201,
    ),
    Case(
        "customer invitation send",
        "R1",
        "POST",
        "/api/v1/customer-invitations/{R1.invitation.two_tier}/send",
        {},
        audit=("invitation_sent",),
        status=202,
    ),
    Case(
        "customer invitation revoke (two-tier)",
        "R1",
        "POST",
        "/api/v1/customer-invitations/{R1.invitation.two_tier}/revoke",
        audit=("invitation_revoked",),
        events=(ev("customer_invitation_revoked", "R1", "P1"),),
    ),
    Case(
        "customer invitation revoke (direct)",
        "R1",
        "POST",
        "/api/v1/customer-invitations/{R1.invitation.direct}/revoke",
        audit=("invitation_revoked",),
        events=(ev("customer_invitation_revoked", "R1"),),
    ),
    Case(
        "customer invitation accept (two-tier)",
        "stranger",
        "POST",
        "/api/v1/invitations/{R1.token.two_tier}/accept",
        {"authorize": True},
        audit=("indirect_reseller_relationship_accepted",),
        events=(
            ev("customer_invitation_accepted", "R1", "P1", "S"),
            ev("relationship_created", "R1", "P1", "S"),
            ev("relationship_created", "P1", "R1", "S"),
            ev("delegated_access_granted", "R1", "S"),
            ev("delegated_access_granted", "P1", "S"),
        ),
    ),
    Case(
        "customer invitation accept (direct)",
        "stranger",
        "POST",
        "/api/v1/invitations/{R1.token.direct}/accept",
        {"authorize": True},
        audit=("reseller_relationship_accepted",),
        events=(
            ev("customer_invitation_accepted", "R1", "S"),
            ev("relationship_created", "R1", "S"),
            ev("delegated_access_granted", "R1", "S"),
        ),
    ),
    Case(
        "customer invitation accept by a customer already related (a second grant)",
        "C1",
        "POST",
        "/api/v1/invitations/{R1.token.direct}/accept",
        {"authorize": True},
        audit=("reseller_relationship_accepted",),
        events=(
            ev("customer_invitation_accepted", "R1", "C1"),
            ev("delegated_access_granted", "R1", "C1"),
        ),
        doubt="the customer now holds two active grants for the same reseller",
    ),
    Case(
        "end relationship (reseller)",
        "R1",
        "DELETE",
        "/api/v1/customers/{C1}/relationship",
        audit=("customer_relationship_ended",),
        events=(
            ev("relationship_ended", "R1", "P1", "C1"),
            ev("delegated_access_revoked", "R1", "C1"),
        ),
        status=204,
    ),
    Case(
        "end relationship (provider)",
        "P1",
        "DELETE",
        "/api/v1/customers/{C1}/relationship",
        audit=("customer_relationship_ended",),
        events=(
            ev("relationship_ended", "P1", "R1", "C1"),
            ev("delegated_access_revoked", "P1", "C1"),
        ),
        status=204,
    ),
    Case(
        "remove partner (the customer)",
        "C1",
        "DELETE",
        "/api/v1/my/partners/{R1.account}",
        audit=("customer_relationship_ended",),
        events=(
            ev("relationship_ended", "R1", "P1", "C1"),
            ev("delegated_access_revoked", "R1", "C1"),
        ),
        status=204,
    ),
    # Delegated access.
    Case(
        "drop roles (some left)",
        "R1",
        "POST",
        GRANT + "/drop-roles",
        {"roles": ["helpdesk_admin"]},
        audit=("delegated_access_roles_dropped",),
        events=(ev("delegated_access_updated", "R1", "C1"),),
        on_behalf_of="C1",
    ),
    Case(
        "drop roles (none left: revoked)",
        "R1",
        "POST",
        GRANT + "/drop-roles",
        {"roles": ["helpdesk_admin", "license_admin", "user_admin"]},
        audit=("delegated_access_roles_dropped",),
        events=(ev("delegated_access_revoked", "R1", "C1"),),
        on_behalf_of="C1",
    ),
    Case(
        "request extension",
        "R1",
        "POST",
        GRANT + "/extension-request",
        {"duration_days": 30},
        audit=("delegated_access_extension_requested",),
        on_behalf_of="C1",
        doubt="the customer, who must decide, gets an email but no event",
    ),
    Case(
        "approve extension",
        "C1",
        "POST",
        "/api/v1/my/grants/{C1.grant.R1}/extension/approve",
        audit=("delegated_access_extended",),
        events=(ev("delegated_access_extended", "R1", "C1"),),
    ),
    Case(
        "decline extension",
        "C1",
        "POST",
        "/api/v1/my/grants/{C1.grant.R1}/extension/decline",
        audit=("delegated_access_extension_declined",),
        doubt="the partner that asked is not told by an event (no type for it in the catalog)",
    ),
    # The customer's users, by its partner.
    Case(
        "customer user create (delegated)",
        "R1",
        "POST",
        "/api/v1/customers/{C1}/users",
        {"email": "new@yarrow-c1.example", "display_name": "Nel New", "password": PASSWORD},
        audit=("user_created",),
        status=201,
        on_behalf_of="C1",
    ),
    Case(
        "customer user update (delegated)",
        "R1",
        "PATCH",
        C1_MEMBER,
        {"display_name": "Mo Renamed"},
        audit=("user_updated",),
        on_behalf_of="C1",
    ),
    Case(
        "customer user delete (delegated; the user held a license)",
        "R1",
        "DELETE",
        C1_MEMBER,
        audit=("user_deleted",),
        status=204,
        on_behalf_of="C1",
        doubt="the user's seat goes back to the pool with no license_unassigned record or "
        "event, though the provider and the reseller of record get one for any other unassign",
    ),
    Case(
        "customer user password reset (delegated)",
        "R1",
        "POST",
        C1_MEMBER + "/password-reset",
        audit=("user_password_reset",),
        on_behalf_of="C1",
    ),
    Case(
        "customer user password reset (helpdesk agent)",
        "R1.helpdesk",
        "POST",
        C1_MEMBER + "/password-reset",
        audit=("user_password_reset",),
        on_behalf_of="C1",
    ),
    # Commerce.
    Case(
        "order create",
        "P1",
        "POST",
        "/api/v1/customers/{C1}/orders",
        ORDER,
        audit=("order_created",),
        events=(
            ev("order_created", "C1", "P1", "R1"),
            ev("subscription_created", "C1", "P1", "R1"),
        ),
        status=201,
        on_behalf_of="C1",
    ),
    Case(
        "subscription change quantity",
        "P1",
        "PATCH",
        SUB,
        {"quantity": 6},
        audit=("subscription_updated",),
        events=(ev("subscription_updated", "C1", "P1", "R1"),),
        on_behalf_of="C1",
    ),
    Case(
        "subscription suspend",
        "P1",
        "PATCH",
        SUB,
        {"status": "suspended"},
        audit=("subscription_updated",),
        events=(ev("subscription_updated", "C1", "P1", "R1"),),
        on_behalf_of="C1",
    ),
    Case(
        "subscription reactivate",
        "P1",
        "PATCH",
        "/api/v1/customers/{C1}/subscriptions/{C1.suspended}",
        {"status": "active"},
        audit=("subscription_updated",),
        events=(ev("subscription_updated", "C1", "P1", "R1"),),
        on_behalf_of="C1",
    ),
    Case(
        "subscription cancel",
        "P1",
        "PATCH",
        SUB,
        {"status": "cancelled"},
        audit=("subscription_updated",),
        events=(ev("subscription_updated", "C1", "P1", "R1"),),
        on_behalf_of="C1",
    ),
    Case(
        "subscription auto-renew off",
        "P1",
        "PATCH",
        SUB,
        {"auto_renew": False},
        audit=("subscription_updated",),
        events=(ev("subscription_updated", "C1", "P1", "R1"),),
        on_behalf_of="C1",
    ),
    Case("subscription change that changes nothing", "P1", "PATCH", SUB, {"auto_renew": True}),
    Case(
        "license unassign (delegated)",
        "R1",
        "POST",
        C1_MEMBER + "/license-updates",
        {"remove": ["@catalog.sku"]},
        audit=("license_unassigned",),
        events=(ev("license_unassigned", "C1", "P1", "R1"),),
        on_behalf_of="C1",
    ),
    Case(
        "license assign (delegated)",
        "R1",
        "POST",
        "/api/v1/customers/{C1}/users/{C1.admin}/license-updates",
        {"add": ["@catalog.sku"]},
        audit=("license_assigned",),
        events=(ev("license_assigned", "C1", "P1", "R1"),),
        on_behalf_of="C1",
    ),
    Case(
        "license assign (the customer's own admin)",
        "C1",
        "POST",
        "/api/v1/customers/{C1}/users/{C1.admin}/license-updates",
        {"add": ["@catalog.sku"]},
        audit=("license_assigned",),
        events=(ev("license_assigned", "C1", "P1", "R1"),),
    ),
    Case(
        "license assign that changes nothing (already assigned)",
        "R1",
        "POST",
        C1_MEMBER + "/license-updates",
        {"add": ["@catalog.sku"]},
    ),
    # Webhooks.
    Case(
        "webhook create",
        "R1",
        "POST",
        "/api/v1/webhooks",
        {"url": f"{HOOK_HOST}/hooks/new", "events": ["order_created"]},
        audit=("webhook_created",),
        status=201,
    ),
    Case(
        "webhook update",
        "R1",
        "PATCH",
        R1_HOOK,
        {"description": "Renamed feed"},
        audit=("webhook_updated",),
    ),
    Case(
        "webhook disable",
        "R1",
        "PATCH",
        R1_HOOK,
        {"enabled": False},
        audit=("webhook_updated",),
    ),
    Case(
        "webhook rotate secret",
        "R1",
        "POST",
        R1_HOOK + "/rotate-secret",
        audit=("webhook_secret_rotated",),
    ),
    Case("webhook delete", "R1", "DELETE", R1_HOOK, audit=("webhook_deleted",), status=204),
    Case(
        "webhook test message",
        "R1",
        "POST",
        R1_HOOK + "/test",
        audit=("webhook_test_sent",),
        events=(ev("webhook_test", "R1"),),
        status=202,
    ),
    Case(
        "webhook delivery replay",
        "R1",
        "POST",
        R1_HOOK + "/deliveries/{R1.webhook.delivery}/replay",
        audit=("webhook_delivery_replayed",),
        status=202,
    ),
    # The catalog (operator).
    Case(
        "catalog product and SKU create",
        "operator",
        "POST",
        "/api/v1/operator/products",
        {"name": "Nimbus 365", "skus": [{"name": "Nimbus Basic"}, {"name": "Nimbus Plus"}]},
        audit=("product_created",),
        status=201,
    ),
    Case(
        "catalog offer create",
        "operator",
        "POST",
        "/api/v1/operator/offers",
        {
            "sku_id": "@catalog.sku",
            "name": "Walker Standard (monthly)",
            "billing_cycle": "monthly",
            "term": "P1M",
            "prices": [{"country": "TW", "currency": "TWD", "unit_price": "40"}],
        },
        audit=("offer_created",),
        status=201,
    ),
    Case(
        "catalog offer retire",
        "operator",
        "POST",
        "/api/v1/operator/offers/{catalog.offer}/retire",
        audit=("offer_retired",),
    ),
)


async def _extras(builder: Builder) -> None:
    """What the cases need beyond the world: a tenant about to enroll (N, with its
    membership account), E2's admin signed in, and a suspended subscription of C1's."""
    s, w = builder.s, builder.world
    newcomer = WorldOrg("N", "Nimbus", "7350001")
    admin = await builder.tenant(newcomer, "Ned Nimbus")
    await builder.sign_in("N", admin.id, admin.tenant_id)
    await membership.create_membership(
        s,
        MembershipCreate(
            username="nimbus-member",
            password=PASSWORD,
            organizations=[
                OrganizationIn(
                    legal_name=newcomer.company, country="TW", partner_id=newcomer.partner_id
                )
            ],
        ),
    )
    await builder.sign_in("E2", uuid.UUID(w.ids["E2.admin"]), uuid.UUID(w.ids["E2"]))
    provider = await builder.principal(uuid.UUID(w.ids["P1.admin"]))
    customer = uuid.UUID(w.ids["C1"])
    order = await commerce.create_order(
        s,
        provider,
        customer,
        OrderCreate.model_validate(_resolved(w, ORDER)),
    )
    suspended = order.subscriptions[0].id
    await commerce.update_subscription(
        s, provider, customer, suspended, SubscriptionPatch(status="suspended"), "*"
    )
    w.ids["C1.suspended"] = str(suspended)
    w.ids["operator"] = str(w.actors["operator"].tenant_id)


def _resolved(world: World, value: Any) -> Any:
    """``value`` with its "@label" strings replaced by the world's ids."""
    if isinstance(value, dict):
        return {k: _resolved(world, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(world, v) for v in value]
    if isinstance(value, str) and value.startswith("@"):
        return world.ids[value[1:]]
    return value


@dataclass
class Stage:
    world: World
    client: httpx.AsyncClient
    settings: Settings
    engine: AsyncEngine
    connection: AsyncConnection  # the world's: a savepoint of it undoes a worker's writes
    app: FastAPI

    def tenants(self, labels: frozenset[str]) -> set[str]:
        return {self.world.ids[label] for label in labels}

    def label_of(self, tenant_ids: set[str]) -> set[str]:
        """The world's names for tenant ids (for readable failures)."""
        names = {v: k for k, v in self.world.ids.items() if "." not in k}
        return {names.get(t, t) for t in tenant_ids}

    async def send(self, case: Case) -> httpx.Response:
        world = self.world
        path = re.sub(r"{([^}]+)}", lambda m: world.ids[m.group(1)], case.path)
        body = _resolved(world, case.body)
        actor = world.actors[case.actor] if case.actor else None
        headers: dict[str, str] = {}
        try:
            if not case.portal:
                if actor:
                    headers["Authorization"] = f"Bearer {actor.token}"
                headers["Idempotency-Key"] = str(uuid.uuid4())
                headers["If-Match"] = "*"
                return await self.client.request(case.method, path, json=body, headers=headers)
            csrf = secrets.token_urlsafe(16)
            cookies = {CSRF_COOKIE: csrf} | ({SESSION_COOKIE: actor.session} if actor else {})
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
            form = dict(body or {}) | {
                "csrf_token": sign(self.settings.secret_key, csrf, CSRF_PURPOSE)
            }
            return await self.client.request(case.method, path, data=form, headers=headers)
        finally:
            self.client.cookies.clear()


@pytest.fixture(scope="module")
async def stage(database_url: str, engine: AsyncEngine) -> AsyncIterator[Stage]:
    """The world, built once in a transaction rolled back after the module."""
    settings = Settings(
        env="test",
        database_url=database_url,
        base_url="http://testserver",
        outbox_in_process=False,
        _env_file=None,
    )
    async with engine.connect() as connection:
        outer = await connection.begin()
        try:
            db = RolledBackDatabase(database_url, engine, connection)
            async with db.write_sessions() as session, session.begin():
                builder = Builder(session, settings)
                await builder.setup_operator()
                await builder.chain(1, ("Vesper", "Wrenfield", "Yarrow", "Nettle"))
                await builder.others()
                await _extras(builder)
            app = create_app(settings, db=UndoneDatabase(database_url, engine, connection))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield Stage(builder.world, c, settings, engine, connection, app)
        finally:
            await outer.rollback()


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
async def test_one_call_announces_exactly(stage: Stage, case: Case) -> None:
    async with announced() as got:
        response = await stage.send(case)
    if case.status is None:
        assert response.status_code < 400, response.text
    else:
        assert response.status_code == case.status, response.text
    assert got.audit == list(case.audit)
    assert got.events == [e.type for e in case.events]
    assert [stage.label_of(a) for a in got.audiences()] == [set(e.audience) for e in case.events]
    behalf = stage.world.ids[case.on_behalf_of] if case.on_behalf_of else None
    assert {str(r.on_behalf_of_customer_id) for r in got.audit_records} <= {str(behalf)}
    assert {str(e.on_behalf_of_customer_id) for e in got.event_rows} <= {str(behalf)}


def test_the_table_names_each_case_once() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def test_every_write_operation_of_the_api_has_a_case(stage: Stage) -> None:
    """Each POST/PUT/PATCH/DELETE of the live schema is called by a case (exactly one
    operation matches each case's path)."""
    operations = [
        (method.upper(), path)
        for path, item in stage.app.openapi()["paths"].items()
        for method in item
        if method.upper() in WRITES
    ]
    covered: set[tuple[str, str]] = set()
    for case in CASES:
        if case.portal:
            continue
        matches = [
            (method, path)
            for method, path in operations
            if method == case.method and re.fullmatch(re.sub(r"{[^}]+}", "[^/]+", path), case.path)
        ]
        assert len(matches) == 1, f"{case.id}: {case.method} {case.path} matches {matches}"
        covered.update(matches)
    assert sorted(set(operations) - covered) == []


async def test_each_case_leaves_the_world_as_it_was(stage: Stage) -> None:
    """An invitation is accepted once only: the same case succeeds twice, so nothing stuck."""
    (accept,) = [c for c in CASES if c.id == "reseller invitation accept"]
    for _ in range(2):
        async with announced() as got:
            response = await stage.send(accept)
        assert response.status_code == 200, response.text
        assert got.audit == list(accept.audit)


async def test_a_renewal_round_announces_each_due_subscription_once(stage: Stage) -> None:
    """Not a request: the worker's end of term (both of C1's subscriptions renew)."""
    clock.travel(400 * 24 * 3600)
    async with stage.connection.begin_nested() as undo:
        db = RolledBackDatabase(stage.settings.database_url, stage.engine, stage.connection)
        async with announced() as got:
            assert await renewals.renew_due(db) == 2
        await undo.rollback()
    assert got.audit == ["subscription_renewed", "subscription_renewed"]
    assert got.events == ["subscription_updated", "subscription_updated"]
    assert [stage.label_of(a) for a in got.audiences()] == [{"C1", "P1", "R1"}] * 2
    assert {r.actor_user_id for r in got.audit_records} == {None}
