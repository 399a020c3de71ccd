"""Changing delegated access after it was granted: the partner drops roles or asks to
extend; only the customer's global admin approves an extension."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.audit import service as audit
from twotier.channel.service import emit_grant
from twotier.config import Settings
from twotier.customers.models import DelegatedAccessGrant, GrantStatus
from twotier.customers.service import RELATIONSHIP_SOURCE, access_customer
from twotier.directory.models import PartnerAccount, Tenant, User
from twotier.directory.principal import Permission, Principal
from twotier.directory.roles import DirectoryRole
from twotier.kit.clock import utcnow
from twotier.kit.email import queue_email
from twotier.kit.errors import Conflict, Forbidden, Invalid, NotFound
from twotier.kit.i18n import _


async def _partner_grant(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID, grant_id: uuid.UUID
) -> DelegatedAccessGrant:
    await access_customer(session, principal, customer_id)
    if not principal.can(Permission.manage_customers):
        raise Forbidden("Only admin agents change delegated access.", code="insufficient_role")
    grant = await session.scalar(
        select(DelegatedAccessGrant)
        .where(
            DelegatedAccessGrant.id == grant_id,
            DelegatedAccessGrant.tenant_id == customer_id,
            DelegatedAccessGrant.partner_account_id == principal.partner_account_id,
            DelegatedAccessGrant.source == RELATIONSHIP_SOURCE,
        )
        .with_for_update()
    )
    if grant is None:
        raise NotFound("No such grant.", code="grant_not_found")
    if grant.status == GrantStatus.revoked:
        raise Conflict("This grant was revoked.", code="grant_revoked")
    return grant


async def drop_roles(
    session: AsyncSession,
    principal: Principal,
    customer_id: uuid.UUID,
    grant_id: uuid.UUID,
    roles: list[DirectoryRole],
) -> DelegatedAccessGrant:
    """Give back roles the partner no longer needs (least privilege); none left → revoked."""
    grant = await _partner_grant(session, principal, customer_id, grant_id)
    dropping = {r.value for r in roles}
    if not dropping <= set(grant.roles):
        raise Invalid("The grant does not hold some of these roles.", code="role_not_granted")
    grant.roles = [r for r in grant.roles if r not in dropping]
    if not grant.roles:
        grant.status = GrantStatus.revoked
        grant.revoked_at = utcnow()
    await session.flush()
    audit.record(
        session,
        operation="delegated_access_roles_dropped",
        actor=principal,
        resource_type="delegated_access_grant",
        resource_id=grant.id,
        on_behalf_of_customer_id=customer_id,
        detail={"dropped": sorted(dropping), "remaining": grant.roles},
    )
    partner = await session.get_one(PartnerAccount, grant.partner_account_id)
    await emit_grant(
        session,
        "delegated_access_revoked" if not grant.roles else "delegated_access_updated",
        grant,
        principal,
        partner,
        [partner.tenant_id, customer_id],
        on_behalf_of_customer_id=customer_id,
    )
    return grant


async def request_extension(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    customer_id: uuid.UUID,
    grant_id: uuid.UUID,
    days: int,
) -> DelegatedAccessGrant:
    grant = await _partner_grant(session, principal, customer_id, grant_id)
    grant.extension_days = days
    grant.extension_requested_at = utcnow()
    await session.flush()
    partner = await session.get_one(PartnerAccount, grant.partner_account_id)
    tenant = await session.get_one(Tenant, customer_id)
    admins = await session.scalars(
        select(User).where(User.tenant_id == customer_id, User.is_active.is_(True))
    )
    for admin in admins:
        if DirectoryRole.global_admin.value in admin.roles:
            queue_email(
                session,
                settings,
                to=admin.email,
                subject=_("%(partner)s asks to extend its access to %(tenant)s")
                % {"partner": partner.company_name, "tenant": tenant.display_name},
                body=_(
                    "Hello %(name)s,\n\n%(partner)s asks to keep %(roles)s in your tenant for "
                    "%(days)s more days. Approve or decline on your Partners page: "
                    "%(url)s/partners\n"
                )
                % {
                    "name": admin.display_name,
                    "partner": partner.company_name,
                    "roles": ", ".join(grant.roles),
                    "days": days,
                    "url": settings.base_url,
                },
            )
    audit.record(
        session,
        operation="delegated_access_extension_requested",
        actor=principal,
        resource_type="delegated_access_grant",
        resource_id=grant.id,
        on_behalf_of_customer_id=customer_id,
        detail={"days": days},
    )
    return grant


async def decide_extension(
    session: AsyncSession, principal: Principal, grant_id: uuid.UUID, *, approve: bool
) -> DelegatedAccessGrant:
    """The customer's global admin approves (the grant runs ``days`` from now) or declines."""
    if DirectoryRole.global_admin.value not in principal.roles:
        raise Forbidden(
            "Only your global admin decides on partners' access.", code="global_admin_required"
        )
    grant = await session.scalar(
        select(DelegatedAccessGrant)
        .where(
            DelegatedAccessGrant.id == grant_id,
            DelegatedAccessGrant.tenant_id == principal.tenant_id,
        )
        .with_for_update()
    )
    if grant is None:
        raise NotFound("No such grant.", code="grant_not_found")
    if grant.extension_days is None or grant.status == GrantStatus.revoked:
        raise Conflict("No extension is waiting for a decision.", code="no_extension_requested")
    days = grant.extension_days
    if approve:
        grant.expires_at = utcnow() + timedelta(days=days)
    grant.extension_days = None
    grant.extension_requested_at = None
    await session.flush()
    audit.record(
        session,
        operation=(
            "delegated_access_extended" if approve else "delegated_access_extension_declined"
        ),
        actor=principal,
        resource_type="delegated_access_grant",
        resource_id=grant.id,
        detail={"days": days, "expires_at": grant.expires_at.isoformat()},
    )
    if approve:
        partner = await session.get_one(PartnerAccount, grant.partner_account_id)
        await emit_grant(
            session,
            "delegated_access_extended",
            grant,
            principal,
            partner,
            [partner.tenant_id, grant.tenant_id],
        )
    return grant
