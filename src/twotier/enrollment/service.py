"""Enrollment: link a partner ID, prove the contact's email, pass the operator's review.

pending_email_verification → in_review → approved | rejected (with a reason).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory.models import PartnerAccount, Tenant, TenantKind
from twotier.directory.principal import Permission, Principal
from twotier.enrollment import emails
from twotier.enrollment.models import (
    ENROLLMENT,
    OPEN_ENROLLMENT,
    Enrollment,
    EnrollmentStatus,
    EnrollmentVerification,
)
from twotier.enrollment.schemas import EnrollmentCreate
from twotier.events import service as events
from twotier.events.catalog import EventType
from twotier.kit.clock import utcnow
from twotier.kit.errors import Conflict, Forbidden, Gone, Invalid, NotFound
from twotier.kit.pagination import PageParams, paginate
from twotier.kit.security import new_token, token_hash
from twotier.membership import service as membership
from twotier.membership.models import MembershipOrganization
from twotier.membership.schemas import LookupOrganization, MembershipCredentials
from twotier.partners import service as partners
from twotier.partners.schemas import LegalProfile, PrimaryContact

VERIFICATION_TTL = timedelta(days=7)
S = EnrollmentStatus


async def _told(
    session: AsyncSession,
    type_: EventType,
    enrollment: Enrollment,
    *,
    operator_too: bool = True,
    data: dict[str, Any] | None = None,
) -> events.Tell:
    """An enrollment event for the enrolling tenant (and the operator, who reviews it)."""
    audience = [enrollment.tenant_id]
    if operator_too:
        audience += list(
            await session.scalars(select(Tenant.id).where(Tenant.kind == TenantKind.operator))
        )
    return events.Tell(
        type_,
        resource_type="enrollment",
        resource_id=enrollment.id,
        resource_uri=f"/api/v1/operator/enrollments/{enrollment.id}",
        audience=audience,
        data={"program": enrollment.program, "partner_id": enrollment.partner_id} | (data or {}),
    )


def _require_global_admin(principal: Principal) -> None:
    if not principal.can(Permission.enroll_partner):
        raise Forbidden(
            "Only the tenant's global admin can enroll it as a partner.",
            code="global_admin_required",
        )


async def _partner_id_holders(
    session: AsyncSession, partner_ids: Sequence[str], tenant_id: uuid.UUID
) -> dict[str, str]:
    """Why each of ``partner_ids`` is not free for ``tenant_id`` (free ones are absent):
    two queries whatever their number."""
    if not partner_ids:
        return {}
    reasons: dict[str, str] = {}
    pending = await session.scalars(
        select(Enrollment.partner_id).where(
            Enrollment.partner_id.in_(partner_ids),
            Enrollment.status.in_(OPEN_ENROLLMENT),
            Enrollment.tenant_id != tenant_id,
        )
    )
    for partner_id in pending:
        reasons[partner_id] = (
            "Another organization's enrollment with this partner ID is in progress."
        )
    linked = await session.execute(
        select(PartnerAccount.partner_id).where(
            PartnerAccount.partner_id.in_(partner_ids), PartnerAccount.tenant_id != tenant_id
        )
    )
    for (partner_id,) in linked:
        reasons[partner_id] = "This partner ID is already linked to another partner account."
    return reasons


async def _partner_id_holder(
    session: AsyncSession, partner_id: str, tenant_id: uuid.UUID
) -> str | None:
    """Why ``partner_id`` is not free for ``tenant_id``, or None when it is."""
    return (await _partner_id_holders(session, [partner_id], tenant_id)).get(partner_id)


def _ineligibility(
    org: MembershipOrganization, tenant: Tenant, holders: dict[str, str]
) -> str | None:
    if org.country != tenant.country:
        return (
            f"The partner ID is registered in {org.country}, but your tenant is in "
            f"{tenant.country}; they must be in the same country or region."
        )
    return holders.get(org.partner_id)


async def lookup(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    creds: MembershipCredentials,
    client: str,
) -> list[LookupOrganization]:
    _require_global_admin(principal)
    account = await membership.authenticate(
        session, settings, username=creds.username, password=creds.password, client=client
    )
    tenant = await session.get_one(Tenant, principal.tenant_id)
    orgs = (await membership.organizations_of(session, [account.id]))[account.id]
    holders = await _partner_id_holders(session, [o.partner_id for o in orgs], tenant.id)
    out = []
    for org in orgs:
        reason = _ineligibility(org, tenant, holders)
        out.append(
            LookupOrganization(
                partner_id=org.partner_id,
                legal_name=org.legal_name,
                country=org.country,
                eligible=reason is None,
                reason=reason,
            )
        )
    return out


async def _issue_verification(
    session: AsyncSession, settings: Settings, enrollment: Enrollment
) -> None:
    await session.execute(
        update(EnrollmentVerification)
        .where(
            EnrollmentVerification.enrollment_id == enrollment.id,
            EnrollmentVerification.used_at.is_(None),
            EnrollmentVerification.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    token = new_token()
    session.add(
        EnrollmentVerification(
            enrollment_id=enrollment.id,
            token_hash=token_hash(token),
            expires_at=utcnow() + VERIFICATION_TTL,
        )
    )
    await session.flush()
    emails.verification(session, settings, enrollment, token)


def _dump(model: Any) -> dict[str, Any]:
    return dict(model.model_dump(mode="json")) if model is not None else {}


async def _check_open(
    session: AsyncSession, principal: Principal, data: EnrollmentCreate
) -> tuple[Tenant, PartnerAccount | None]:
    """The tenant (locked: one enrollment at a time) and its partner account, if any, when
    the tenant is not in the program yet and has no enrollment in it open."""
    _require_global_admin(principal)
    tenant = await session.scalar(
        select(Tenant).where(Tenant.id == principal.tenant_id).with_for_update()
    )
    assert tenant is not None  # noqa: S101 — the principal's tenant exists
    partner = await partners.partner_of_tenant(session, tenant.id)
    if partner is not None and data.program in await partners.programs_of(session, partner.id):
        raise Conflict(
            "Your partner account is already approved in this program.", code="already_enrolled"
        )
    open_one = await session.scalar(
        select(Enrollment.id).where(
            Enrollment.tenant_id == tenant.id,
            Enrollment.program == data.program,
            Enrollment.status.in_(OPEN_ENROLLMENT),
        )
    )
    if open_one is not None:
        raise Conflict(
            "An enrollment in this program is already open for your tenant.",
            code="enrollment_open",
        )
    return tenant, partner


async def _membership_organization(
    session: AsyncSession,
    settings: Settings,
    tenant: Tenant,
    data: EnrollmentCreate,
    client: str,
) -> tuple[MembershipOrganization, LegalProfile, PrimaryContact]:
    """A new partner's organization profile, with the legal profile and contact it gave:
    signed in to the membership registry, its partner ID in that account, in the tenant's
    country, and held by no other tenant."""
    ref, legal, contact = data.membership, data.legal_profile, data.primary_contact
    if ref is None or legal is None or contact is None:
        missing = [
            name
            for name, value in (
                ("membership", ref),
                ("legal_profile", legal),
                ("primary_contact", contact),
            )
            if value is None
        ]
        raise Invalid(
            "A new partner gives its membership sign-in, legal profile and primary contact.",
            code="enrollment_incomplete",
            extra={"missing": missing},
        )
    account = await membership.authenticate(
        session,
        settings,
        username=ref.username,
        password=ref.password,
        client=client,
    )
    org = await session.scalar(
        select(MembershipOrganization).where(
            MembershipOrganization.account_id == account.id,
            MembershipOrganization.partner_id == ref.partner_id,
        )
    )
    if org is None:
        raise Invalid(
            "This membership account holds no organization with that partner ID.",
            code="partner_id_not_in_membership",
        )
    if org.country != tenant.country:
        raise Invalid(
            f"The partner ID is registered in {org.country}, but your tenant is in "
            f"{tenant.country}. They must be in the same country or region.",
            code="country_mismatch",
        )
    held = await _partner_id_holder(session, org.partner_id, tenant.id)
    if held is not None:
        raise Conflict(held, code="partner_id_taken")
    return org, legal, contact


async def create(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    data: EnrollmentCreate,
    client: str,
) -> Enrollment:
    """ "Enroll now": an approved partner adding a program takes the shortcut; a new partner
    links a partner ID and waits for its primary contact to confirm. Check, write, announce."""
    tenant, partner = await _check_open(session, principal, data)
    if partner is not None:
        return await _add_program(session, settings, principal, partner, data)
    org, legal, contact = await _membership_organization(session, settings, tenant, data, client)

    enrollment = Enrollment(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        program=data.program,
        status=S.pending_email_verification,
        partner_id=org.partner_id,
        company_name=legal.company_name,
        country=tenant.country,
        legal_profile=_dump(legal),
        primary_contact=_dump(contact),
        support_profile=_dump(data.support_profile),
        submitted_by_user_id=principal.user_id,
    )
    session.add(enrollment)
    await session.flush()
    await _issue_verification(session, settings, enrollment)

    await events.announce(
        session,
        principal,
        "enrollment_submitted",
        resource_type="enrollment",
        resource_id=enrollment.id,
        detail={"program": data.program, "partner_id": org.partner_id},
        tell=[await _told(session, EventType.enrollment_submitted, enrollment, operator_too=False)],
    )
    return enrollment


async def _add_program(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    partner: PartnerAccount,
    data: EnrollmentCreate,
) -> Enrollment:
    """The shortcut: an approved partner adds a program with only its support profile."""
    now = utcnow()
    partner.support_profile = _dump(data.support_profile)
    enrollment = Enrollment(
        id=uuid.uuid4(),
        tenant_id=partner.tenant_id,
        program=data.program,
        status=S.approved,
        partner_id=partner.partner_id,
        company_name=partner.company_name,
        country=partner.country,
        legal_profile=dict(partner.legal_profile),
        primary_contact=dict(partner.primary_contact),
        support_profile=_dump(data.support_profile),
        shortcut=True,
        submitted_by_user_id=principal.user_id,
        decided_at=now,
    )
    session.add(enrollment)
    await partners.add_program(session, partner, data.program, now)
    await session.flush()
    emails.approved(session, settings, enrollment)
    await events.announce(
        session,
        principal,
        "partner_program_added",
        resource_type="partner_account",
        resource_id=partner.id,
        detail={"program": data.program, "enrollment_id": str(enrollment.id)},
        tell=[
            await _told(session, EventType.enrollment_approved, enrollment, data={"shortcut": True})
        ],
    )
    return enrollment


async def current(session: AsyncSession, principal: Principal) -> Enrollment:
    enrollment = await session.scalar(
        select(Enrollment)
        .where(Enrollment.tenant_id == principal.tenant_id)
        .order_by(Enrollment.created_at.desc(), Enrollment.id.desc())
        .limit(1)
    )
    if enrollment is None:
        raise NotFound("Your tenant has not enrolled yet.", code="no_enrollment")
    return enrollment


async def resend_verification(
    session: AsyncSession, settings: Settings, principal: Principal
) -> Enrollment:
    _require_global_admin(principal)
    enrollment = await current(session, principal)
    if enrollment.status != S.pending_email_verification:
        raise Conflict("The primary contact's email is already confirmed.", code="already_verified")
    await _issue_verification(session, settings, enrollment)
    await events.announce(
        session,
        principal,
        "enrollment_verification_resent",
        resource_type="enrollment",
        resource_id=enrollment.id,
    )
    return enrollment


def _usable(verification: EnrollmentVerification | None) -> EnrollmentVerification:
    if verification is None:
        raise NotFound("This confirmation link is not valid.", code="verification_not_found")
    if verification.used_at is not None:
        raise Gone("This confirmation link was already used.", code="verification_used")
    if verification.revoked_at is not None:
        raise Gone(
            "A newer confirmation link was sent; use the latest email.",
            code="verification_revoked",
        )
    if verification.expires_at <= utcnow():
        raise Gone("This confirmation link has expired.", code="verification_expired")
    return verification


def _still_waiting(enrollment: Enrollment | None) -> Enrollment:
    assert enrollment is not None  # noqa: S101 — cascade keeps them together
    if enrollment.status != S.pending_email_verification:
        raise Gone("This enrollment no longer waits for confirmation.", code="verification_used")
    return enrollment


async def preview_verification(session: AsyncSession, token: str) -> Enrollment:
    """What the emailed link would confirm, read-only: opening a link changes nothing."""
    verification = _usable(
        await session.scalar(
            select(EnrollmentVerification).where(
                EnrollmentVerification.token_hash == token_hash(token)
            )
        )
    )
    return _still_waiting(await session.get(Enrollment, verification.enrollment_id))


async def verify_email(session: AsyncSession, settings: Settings, token: str) -> Enrollment:
    """The emailed link's button: single use, expiring; anyone holding the link may confirm."""
    verification = _usable(
        await session.scalar(
            select(EnrollmentVerification)
            .where(EnrollmentVerification.token_hash == token_hash(token))
            .with_for_update()
        )
    )
    enrollment = _still_waiting(
        await session.scalar(
            select(Enrollment).where(Enrollment.id == verification.enrollment_id).with_for_update()
        )
    )
    now = utcnow()
    verification.used_at = now
    ENROLLMENT.move(enrollment, S.in_review)
    enrollment.verified_at = now
    await session.flush()
    emails.in_review(session, settings, enrollment)
    await events.announce(
        session,
        None,
        "enrollment_email_verified",
        resource_type="enrollment",
        resource_id=enrollment.id,
        subject_tenant_id=enrollment.tenant_id,
        detail={"email": enrollment.primary_contact.get("email")},
        tell=[await _told(session, EventType.enrollment_verified, enrollment)],
    )
    return enrollment


# Operator review.


async def list_for_review(
    session: AsyncSession, operator: Principal, status: str | None, params: PageParams
) -> tuple[list[Enrollment], str | None]:
    operator.demand(Permission.operate_platform, "Only the operator reviews enrollments.")
    stmt = select(Enrollment)
    if status:
        stmt = stmt.where(Enrollment.status == status)
    return await paginate(session, stmt, keys=[Enrollment.created_at, Enrollment.id], params=params)


async def get_for_operator(
    session: AsyncSession, operator: Principal, enrollment_id: uuid.UUID, *, lock: bool = False
) -> Enrollment:
    operator.demand(Permission.operate_platform, "Only the operator reviews enrollments.")
    stmt = select(Enrollment).where(Enrollment.id == enrollment_id)
    if lock:
        stmt = stmt.with_for_update()
    enrollment = await session.scalar(stmt)
    if enrollment is None:
        raise NotFound("No such enrollment.", code="enrollment_not_found")
    return enrollment


def _may_decide(enrollment: Enrollment, decision: EnrollmentStatus) -> None:
    """Refuse unless the enrollment may be decided that way now (``ENROLLMENT``)."""
    if not ENROLLMENT.allows(enrollment.status, decision):
        raise Conflict(
            f"The enrollment is {enrollment.status.replace('_', ' ')}; it cannot be decided now.",
            code="enrollment_not_in_review",
        )


async def approve(
    session: AsyncSession, settings: Settings, operator: Principal, enrollment_id: uuid.UUID
) -> Enrollment:
    enrollment = await get_for_operator(session, operator, enrollment_id, lock=True)
    _may_decide(enrollment, S.approved)
    held = await _partner_id_holder(session, enrollment.partner_id, enrollment.tenant_id)
    if held is not None:
        raise Conflict(held, code="partner_id_taken")
    now = utcnow()
    partner = await partners.upsert_from_enrollment(session, enrollment, now)
    ENROLLMENT.move(enrollment, S.approved)
    enrollment.decided_at = now
    enrollment.decided_by_user_id = operator.user_id
    await session.flush()
    emails.approved(session, settings, enrollment)
    await events.announce(
        session,
        operator,
        "enrollment_approved",
        resource_type="enrollment",
        resource_id=enrollment.id,
        subject_tenant_id=enrollment.tenant_id,
        detail={"program": enrollment.program, "partner_account_id": str(partner.id)},
        tell=[await _told(session, EventType.enrollment_approved, enrollment)],
    )
    return enrollment


async def reject(
    session: AsyncSession,
    settings: Settings,
    operator: Principal,
    enrollment_id: uuid.UUID,
    reason: str,
) -> Enrollment:
    enrollment = await get_for_operator(session, operator, enrollment_id, lock=True)
    _may_decide(enrollment, S.rejected)
    ENROLLMENT.move(enrollment, S.rejected)
    enrollment.rejection_reason = reason
    enrollment.decided_at = utcnow()
    enrollment.decided_by_user_id = operator.user_id
    await session.execute(
        update(EnrollmentVerification)
        .where(
            EnrollmentVerification.enrollment_id == enrollment.id,
            EnrollmentVerification.used_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    await session.flush()
    emails.rejected(session, settings, enrollment)
    await events.announce(
        session,
        operator,
        "enrollment_rejected",
        resource_type="enrollment",
        resource_id=enrollment.id,
        subject_tenant_id=enrollment.tenant_id,
        detail={"reason": reason},
        tell=[
            await _told(session, EventType.enrollment_rejected, enrollment, data={"reason": reason})
        ],
    )
    return enrollment
