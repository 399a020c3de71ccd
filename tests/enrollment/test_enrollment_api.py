"""Enrollment through the API: every rule and its code, the state machine, the emails."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.enrollment.helpers import (
    approved_partner,
    deliver,
    latest_mail,
    submit,
    token_from,
    verify,
)
from tests.factories import (
    enrollment_body,
    make_membership,
    make_operator,
    make_org,
    make_user,
)
from twotier.config import Settings
from twotier.kit import clock
from twotier.kit.db import Database


async def test_lookup_lists_profiles_with_eligibility(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    operator = await make_operator(client, session)
    org = await make_org(client, country="TW")
    membership = await make_membership(
        client,
        operator,
        [
            {"legal_name": "Fabrikam Taiwan", "country": "TW"},
            {"legal_name": "Fabrikam Japan", "country": "JP"},
        ],
    )
    response = await client.post(
        "/api/v1/enrollment/membership-lookup",
        json={"username": membership["username"], "password": membership["password"]},
        headers=org.auth,
    )
    assert response.status_code == 200
    by_name = {o["legal_name"]: o for o in response.json()["organizations"]}
    assert by_name["Fabrikam Taiwan"]["eligible"] is True
    assert by_name["Fabrikam Taiwan"]["reason"] is None
    assert by_name["Fabrikam Japan"]["eligible"] is False
    assert "same country" in by_name["Fabrikam Japan"]["reason"]
    assert all(len(o["partner_id"]) == 7 for o in by_name.values())


async def test_wrong_membership_credentials_are_401_then_throttled(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    operator = await make_operator(client, session)
    org = await make_org(client)
    membership = await make_membership(client, operator)
    bad = {"username": membership["username"], "password": "wrong-password"}
    for _ in range(settings.signin_free_failures_per_account):
        response = await client.post(
            "/api/v1/enrollment/membership-lookup", json=bad, headers=org.auth
        )
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_membership_credentials"
    good = {"username": membership["username"], "password": membership["password"]}
    throttled = await client.post(
        "/api/v1/enrollment/membership-lookup", json=good, headers=org.auth
    )
    assert throttled.status_code == 429
    assert "Retry-After" in throttled.headers


async def test_a_username_too_long_to_throttle_is_refused(client: httpx.AsyncClient) -> None:
    # The throttle keys on the username; a longer one would not fit its column (PostgreSQL).
    org = await make_org(client)
    for length, status in ((300, 401), (301, 422)):
        response = await client.post(
            "/api/v1/enrollment/membership-lookup",
            json={"username": "u" * length, "password": "whatever-password"},
            headers=org.auth,
        )
        assert response.status_code == status, response.text


async def test_enrolling_sends_the_verification_email_to_the_primary_contact(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await make_operator(client, session)
    org = await make_org(client)
    enrollment, body = await submit(client, org, operator)
    assert enrollment["status"] == "pending_email_verification"
    assert enrollment["program"] == "indirect_reseller"
    assert enrollment["partner_id"] == body["membership"]["partner_id"]
    await deliver(db, settings)
    mail = await latest_mail(client, body["primary_contact"]["email"])
    assert "http://testserver/enroll/verify?token=" in mail["body"]
    assert len(token_from(mail["body"])) >= 22
    current = await client.get("/api/v1/enrollments/current", headers=org.auth)
    assert current.json()["id"] == enrollment["id"]


async def test_country_mismatch_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    operator = await make_operator(client, session)
    org = await make_org(client, country="TW")
    membership = await make_membership(
        client, operator, [{"legal_name": "Contoso Japan", "country": "JP"}]
    )
    response = await client.post(
        "/api/v1/enrollments", json=enrollment_body(membership), headers=org.auth
    )
    assert response.status_code == 422
    assert response.json()["code"] == "country_mismatch"


async def test_partner_id_not_in_the_membership_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    operator = await make_operator(client, session)
    org = await make_org(client)
    mine = await make_membership(client, operator)
    theirs = await make_membership(client, operator)
    body = enrollment_body(mine, partner_id=theirs["organizations"][0]["partner_id"])
    response = await client.post("/api/v1/enrollments", json=body, headers=org.auth)
    assert response.status_code == 422
    assert response.json()["code"] == "partner_id_not_in_membership"


async def test_partner_id_linked_to_another_partner_is_taken(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await make_operator(client, session)
    first = await make_org(client)
    enrollment = await approved_partner(client, db, settings, first, operator)
    membership_orgs = (
        await client.get(
            "/api/v1/operator/memberships",
            params={"q": enrollment["partner_id"]},
            headers=operator,
        )
    ).json()["items"]
    [membership] = membership_orgs
    second = await make_org(client)
    body = enrollment_body(membership | {"password": "correct horse battery"})
    response = await client.post("/api/v1/enrollments", json=body, headers=second.auth)
    assert response.status_code == 409
    assert response.json()["code"] == "partner_id_taken"
    lookup = await client.post(
        "/api/v1/enrollment/membership-lookup",
        json={"username": membership["username"], "password": "correct horse battery"},
        headers=second.auth,
    )
    [profile] = lookup.json()["organizations"]
    assert profile["eligible"] is False
    assert "already linked" in profile["reason"]


async def test_only_the_global_admin_enrolls(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    operator = await make_operator(client, session)
    org = await make_org(client)
    _user, token = await make_user(client, org, ["user_admin"])
    membership = await make_membership(client, operator)
    response = await client.post(
        "/api/v1/enrollments",
        json=enrollment_body(membership),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "global_admin_required"


async def test_one_open_enrollment_per_tenant_and_program(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    operator = await make_operator(client, session)
    org = await make_org(client)
    _enrollment, body = await submit(client, org, operator)
    again = await client.post("/api/v1/enrollments", json=body, headers=org.auth)
    assert again.status_code == 409
    assert again.json()["code"] == "enrollment_open"
    provider = body | {"program": "indirect_provider"}
    other_program = await client.post("/api/v1/enrollments", json=provider, headers=org.auth)
    assert other_program.status_code == 201


async def test_new_partner_must_give_membership_and_profiles(
    client: httpx.AsyncClient,
) -> None:
    org = await make_org(client)
    response = await client.post(
        "/api/v1/enrollments", json=enrollment_body(None), headers=org.auth
    )
    assert response.status_code == 422
    assert response.json()["code"] == "enrollment_incomplete"
    assert set(response.json()["missing"]) == {"membership", "legal_profile", "primary_contact"}


async def test_verification_link_is_single_use(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await make_operator(client, session)
    org = await make_org(client)
    _enrollment, body = await submit(client, org, operator)
    await deliver(db, settings)
    token = token_from((await latest_mail(client, body["primary_contact"]["email"]))["body"])
    first = await client.post("/api/v1/enrollments/verify-email", json={"token": token})
    assert first.json()["status"] == "in_review"
    second = await client.post("/api/v1/enrollments/verify-email", json={"token": token})
    assert second.status_code == 410
    assert second.json()["code"] == "verification_used"
    current = (await client.get("/api/v1/enrollments/current", headers=org.auth)).json()
    assert current["status"] == "in_review"
    assert current["verified_at"] is not None


async def test_verification_link_expires_after_seven_days(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await make_operator(client, session)
    org = await make_org(client)
    _enrollment, body = await submit(client, org, operator)
    await deliver(db, settings)
    token = token_from((await latest_mail(client, body["primary_contact"]["email"]))["body"])
    clock.travel(7 * 24 * 3600 + 1)
    response = await client.post("/api/v1/enrollments/verify-email", json={"token": token})
    assert response.status_code == 410
    assert response.json()["code"] == "verification_expired"


async def test_resending_replaces_the_old_link(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await make_operator(client, session)
    org = await make_org(client)
    _enrollment, body = await submit(client, org, operator)
    contact = body["primary_contact"]["email"]
    await deliver(db, settings)
    old = token_from((await latest_mail(client, contact))["body"])
    resent = await client.post("/api/v1/enrollments/current/resend-verification", headers=org.auth)
    assert resent.status_code == 200
    await deliver(db, settings)
    new = token_from((await latest_mail(client, contact))["body"])
    assert new != old
    stale = await client.post("/api/v1/enrollments/verify-email", json={"token": old})
    assert stale.status_code == 410
    assert stale.json()["code"] == "verification_revoked"
    fresh = await client.post("/api/v1/enrollments/verify-email", json={"token": new})
    assert fresh.json()["status"] == "in_review"


async def test_unknown_verification_token_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/enrollments/verify-email", json={"token": "nope"})
    assert response.status_code == 404
    assert response.json()["code"] == "verification_not_found"


async def test_operator_approves_and_the_partner_account_appears(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await make_operator(client, session)
    org = await make_org(client)
    assert (await client.get("/api/v1/partner", headers=org.auth)).status_code == 404
    enrollment, body = await submit(client, org, operator)
    early = await client.post(
        f"/api/v1/operator/enrollments/{enrollment['id']}/approve", headers=operator
    )
    assert early.status_code == 409
    assert early.json()["code"] == "enrollment_not_in_review"
    await verify(client, db, settings, body["primary_contact"]["email"])
    queue = await client.get(
        "/api/v1/operator/enrollments", params={"status": "in_review"}, headers=operator
    )
    assert enrollment["id"] in [e["id"] for e in queue.json()["items"]]
    approved = await client.post(
        f"/api/v1/operator/enrollments/{enrollment['id']}/approve", headers=operator
    )
    assert approved.json()["status"] == "approved"
    partner = (await client.get("/api/v1/partner", headers=org.auth)).json()
    assert partner["partner_id"] == enrollment["partner_id"]
    assert partner["company_name"] == body["legal_profile"]["company_name"]
    assert partner["programs"] == ["indirect_reseller"]
    assert partner["country"] == "TW"
    assert partner["primary_contact"]["email"] == body["primary_contact"]["email"]
    assert partner["support_profile"]["website"] == "https://fabrikam.example/support"
    await deliver(db, settings)
    mail = await latest_mail(client, body["primary_contact"]["email"])
    assert "Admin agent" in mail["body"]
    me = (await client.get("/api/v1/me", headers=org.auth)).json()
    assert me["partner"]["partner_id"] == enrollment["partner_id"]


async def test_rejection_email_carries_the_reason(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await make_operator(client, session)
    org = await make_org(client)
    enrollment, body = await submit(client, org, operator)
    await verify(client, db, settings, body["primary_contact"]["email"])
    rejected = await client.post(
        f"/api/v1/operator/enrollments/{enrollment['id']}/reject",
        json={"reason": "The legal name does not match the registry."},
        headers=operator,
    )
    assert rejected.json()["status"] == "rejected"
    await deliver(db, settings)
    mail = await latest_mail(client, body["primary_contact"]["email"])
    assert "The legal name does not match the registry." in mail["body"]
    twice = await client.post(
        f"/api/v1/operator/enrollments/{enrollment['id']}/reject",
        json={"reason": "again"},
        headers=operator,
    )
    assert twice.status_code == 409
    retry = await client.post("/api/v1/enrollments", json=body, headers=org.auth)
    assert retry.status_code == 201  # rejected is closed: enrolling again is allowed


async def test_shortcut_adds_a_program_with_only_the_support_profile(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await make_operator(client, session)
    org = await make_org(client)
    await approved_partner(client, db, settings, org, operator)
    shortcut = {
        "program": "indirect_provider",
        "support_profile": {"email": "help@fabrikam.example"},
    }
    response = await client.post("/api/v1/enrollments", json=shortcut, headers=org.auth)
    assert response.status_code == 201
    assert response.json()["status"] == "approved"
    assert response.json()["shortcut"] is True
    partner = (await client.get("/api/v1/partner", headers=org.auth)).json()
    assert partner["programs"] == ["indirect_provider", "indirect_reseller"]
    assert partner["support_profile"]["email"] == "help@fabrikam.example"
    again = await client.post("/api/v1/enrollments", json=shortcut, headers=org.auth)
    assert again.status_code == 409
    assert again.json()["code"] == "already_enrolled"


async def test_operator_endpoints_are_closed_to_partners(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    operator = await make_operator(client, session)
    org = await make_org(client)
    enrollment, _body = await submit(client, org, operator)
    for method, path in (
        ("GET", "/api/v1/operator/enrollments"),
        ("GET", f"/api/v1/operator/enrollments/{enrollment['id']}"),
        ("POST", f"/api/v1/operator/enrollments/{enrollment['id']}/approve"),
        ("GET", "/api/v1/operator/memberships"),
    ):
        response = await client.request(method, path, headers=org.auth)
        assert response.status_code == 403, path


async def test_only_an_operator_rejects_an_enrollment(
    client: httpx.AsyncClient, session: AsyncSession, db: Database, settings: Settings
) -> None:
    operator = await make_operator(client, session)
    org = await make_org(client)
    stranger = await make_org(client)
    enrollment, body = await submit(client, org, operator)
    await verify(client, db, settings, body["primary_contact"]["email"])
    path = f"/api/v1/operator/enrollments/{enrollment['id']}/reject"
    for who in (org, stranger):  # neither its own organization nor another one
        response = await client.post(path, json={"reason": "Not you."}, headers=who.auth)
        assert response.status_code == 403, response.text
    current = await client.get(f"/api/v1/operator/enrollments/{enrollment['id']}", headers=operator)
    assert current.json()["status"] == "in_review"
    own = await client.get("/api/v1/enrollments/current", headers=org.auth)
    assert own.json()["status"] == "in_review"


async def test_enrollments_are_private_to_their_tenant(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    operator = await make_operator(client, session)
    mine = await make_org(client)
    theirs = await make_org(client)
    await submit(client, theirs, operator)
    response = await client.get("/api/v1/enrollments/current", headers=mine.auth)
    assert response.status_code == 404
    assert response.json()["code"] == "no_enrollment"
    missing = await client.get(
        "/api/v1/operator/enrollments/00000000-0000-0000-0000-000000000000", headers=operator
    )
    assert missing.status_code == 404
