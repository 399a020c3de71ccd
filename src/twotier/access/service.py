"""Delegated access: granting, extending, dropping and revoking a partner's admin roles in
another tenant, and acting under them.

A grant comes from a source (a reseller authorizing its provider, a customer accepting a
relationship); the packages that own those sources call ``new_grant`` and ``revoke_grants``.
Acting for a customer also needs the partner's relationship with it, which ``customers``
owns (it sits above this package): it registers the check with ``customer_reach``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.access.models import GRANT, DelegatedAccessGrant, GrantSource, GrantStatus
from twotier.config import Settings
from twotier.directory.models import PartnerAccount, Tenant, User
from twotier.directory.principal import Permission, Principal
from twotier.directory.roles import ROLE_LABELS, DirectoryRole
from twotier.directory.service import Delegation
from twotier.events import service as events
from twotier.events.catalog import EventType
from twotier.kit.clock import utcnow
from twotier.kit.email import queue_email
from twotier.kit.errors import Conflict, Forbidden, Invalid, NotFound
from twotier.kit.i18n import _

# The partner permission an acting user needs for the work each directory role covers.
TASK_PERMISSION: dict[DirectoryRole, Permission] = {
    DirectoryRole.user_admin: Permission.manage_customers,
    DirectoryRole.license_admin: Permission.manage_customers,
    DirectoryRole.helpdesk_admin: Permission.helpdesk_tasks,
}

# ``check(session, principal, customer_id)`` raises NotFound unless the caller's partner has
# an active relationship with the customer.
CustomerReach = Callable[[AsyncSession, Principal, uuid.UUID], Awaitable[object]]
_reach: list[CustomerReach] = []


Reach = TypeVar("Reach", bound=CustomerReach)


def customer_reach(check: Reach) -> Reach:
    """Register the relationship check acting for a customer needs (customers does, once)."""
    _reach[:] = [check]
    return check


async def reach_customer(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID
) -> None:
    if not _reach:  # pragma: no cover — twotier.customers registers it at import
        raise RuntimeError("no customer relationship check is registered")
    await _reach[0](session, principal, customer_id)


# Granting and revoking, for the packages that own the sources.


def new_grant(
    session: AsyncSession,
    principal: Principal,
    *,
    tenant_id: uuid.UUID,
    partner_account_id: uuid.UUID,
    roles: Sequence[str],
    days: int,
    source: GrantSource,
    source_id: uuid.UUID,
    now: datetime | None = None,
) -> DelegatedAccessGrant:
    """A grant of ``roles`` in ``tenant_id`` to the partner for ``days``, approved by the
    principal (the tenant's own user) — added to the session, announced by the caller."""
    now = now or utcnow()
    grant = DelegatedAccessGrant(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        partner_account_id=partner_account_id,
        roles=list(roles),
        status=GrantStatus.active,
        source=source,
        reseller_link_id=source_id if source is GrantSource.reseller_link else None,
        relationship_id=source_id if source is GrantSource.relationship else None,
        approved_by_user_id=principal.user_id,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(grant)
    return grant


async def revoke_grants(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID | None = None,
    partner_account_id: uuid.UUID | None = None,
    reseller_link_id: uuid.UUID | None = None,
) -> list[DelegatedAccessGrant]:
    """Revoke the active grants matching every given criterion (at least one); the revoked
    grants, for the caller to announce."""
    stmt = select(DelegatedAccessGrant).where(DelegatedAccessGrant.status == GrantStatus.active)
    if tenant_id is not None:
        stmt = stmt.where(DelegatedAccessGrant.tenant_id == tenant_id)
    if partner_account_id is not None:
        stmt = stmt.where(DelegatedAccessGrant.partner_account_id == partner_account_id)
    if reseller_link_id is not None:
        stmt = stmt.where(DelegatedAccessGrant.reseller_link_id == reseller_link_id)
    if tenant_id is None and partner_account_id is None and reseller_link_id is None:
        raise ValueError("revoke_grants needs a criterion")
    now = utcnow()
    revoked = list(await session.scalars(stmt))
    for grant in revoked:
        GRANT.move(grant, GrantStatus.revoked)
        grant.revoked_at = now
    return revoked


def grant_told(
    type_: EventType,
    grant: DelegatedAccessGrant,
    partner: PartnerAccount,
    audience: list[uuid.UUID],
) -> events.Tell:
    """A delegated-access event: the grant's roles and expiry, for the partner and the
    tenant that granted them."""
    uri = (
        f"/api/v1/indirect-providers/{partner.id}"
        if grant.source is GrantSource.reseller_link
        else f"/api/v1/customers/{grant.tenant_id}/delegated-access"
    )
    return events.Tell(
        type_,
        resource_type="delegated_access_grant",
        resource_id=grant.id,
        resource_uri=uri,
        audience=audience,
        data={
            "tenant_id": str(grant.tenant_id),
            "partner_id": partner.partner_id,
            "roles": list(grant.roles),
            "expires_at": grant.expires_at.isoformat(),
            "status": grant.status.value,
        },
    )


# Reading grants (the lists' reads are access.queries).


async def delegated_roles(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID
) -> frozenset[str]:
    """The directory roles the caller's partner holds in the customer's tenant right now
    (unexpired, unrevoked grants). Does not check the relationship: see act_for_customer."""
    grants = await session.scalars(
        select(DelegatedAccessGrant).where(
            DelegatedAccessGrant.tenant_id == customer_id,
            DelegatedAccessGrant.partner_account_id == principal.partner_account_id,
            DelegatedAccessGrant.status == GrantStatus.active,
            DelegatedAccessGrant.expires_at > utcnow(),
        )
    )
    return frozenset(role for grant in grants for role in grant.roles)


# Acting under a grant.


def delegation_for(
    principal: Principal,
    customer_id: uuid.UUID,
    held: frozenset[str],
    directory_role: DirectoryRole,
) -> Delegation:
    """The work ``directory_role`` covers, if the acting user's partner role allows it
    (``TASK_PERMISSION``) and ``held`` covers the role."""
    if not principal.can(TASK_PERMISSION[directory_role]):
        raise Forbidden("Your partner roles do not allow this.", code="insufficient_role")
    if directory_role.value not in held and DirectoryRole.global_admin.value not in held:
        raise Forbidden(
            f"The customer has not granted you {directory_role.value} (or it has expired).",
            code="delegated_access_missing",
        )
    return Delegation(customer_tenant_id=customer_id, granted_roles=held)


def refusal_text(exc: Forbidden, role: DirectoryRole, customer: str) -> str:
    """Why a delegated task is not offered, in words for the portal."""
    if exc.code == "delegated_access_missing":
        return _(
            "%(customer)s has not granted you %(role)s, or the grant has expired. Ask its "
            "global admin to accept a new relationship that includes it."
        ) % {"customer": customer, "role": _(ROLE_LABELS[role])}
    return _("Your partner roles do not allow this. Ask an admin agent.")


async def act_for_customer(
    session: AsyncSession,
    principal: Principal,
    customer_id: uuid.UUID,
    directory_role: DirectoryRole,
) -> Delegation:
    """Relationship, an unexpired grant covering ``directory_role``, and the acting user's
    partner role for that work — all three, checked now."""
    await reach_customer(session, principal, customer_id)
    if not principal.can(TASK_PERMISSION[directory_role]):
        raise Forbidden("Your partner roles do not allow this.", code="insufficient_role")
    held = await delegated_roles(session, principal, customer_id)
    return delegation_for(principal, customer_id, held, directory_role)


async def act_for_password_reset(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID
) -> Delegation:
    """A reset needs a helpdesk_admin grant or, for an admin agent, a user_admin grant;
    ``directory.passwords.reset_reach`` decides which of the customer's users it reaches."""
    await reach_customer(session, principal, customer_id)
    held = await delegated_roles(session, principal, customer_id)
    admin_work = DirectoryRole.user_admin.value in held and principal.can(
        TASK_PERMISSION[DirectoryRole.user_admin]
    )
    role = DirectoryRole.user_admin if admin_work else DirectoryRole.helpdesk_admin
    return delegation_for(principal, customer_id, held, role)


# Changing a grant: the partner drops roles or asks to extend; the customer's global admin
# approves or declines an extension.


async def _partner_grant(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID, grant_id: uuid.UUID
) -> DelegatedAccessGrant:
    await reach_customer(session, principal, customer_id)
    if not principal.can(Permission.manage_customers):
        raise Forbidden("Only admin agents change delegated access.", code="insufficient_role")
    grant = await session.scalar(
        select(DelegatedAccessGrant)
        .where(
            DelegatedAccessGrant.id == grant_id,
            DelegatedAccessGrant.tenant_id == customer_id,
            DelegatedAccessGrant.partner_account_id == principal.partner_account_id,
            DelegatedAccessGrant.source == GrantSource.relationship,
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
        GRANT.move(grant, GrantStatus.revoked)
        grant.revoked_at = utcnow()
    await session.flush()
    partner = await session.get_one(PartnerAccount, grant.partner_account_id)
    changed = (
        EventType.delegated_access_updated if grant.roles else EventType.delegated_access_revoked
    )
    await events.announce(
        session,
        principal,
        "delegated_access_roles_dropped",
        resource_type="delegated_access_grant",
        resource_id=grant.id,
        on_behalf_of_customer_id=customer_id,
        detail={"dropped": sorted(dropping), "remaining": grant.roles},
        tell=[grant_told(changed, grant, partner, [partner.tenant_id, customer_id])],
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
    await events.announce(
        session,
        principal,
        "delegated_access_extension_requested",
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
    if not principal.can(Permission.manage_partner_access):
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
    told = []
    if approve:
        partner = await session.get_one(PartnerAccount, grant.partner_account_id)
        audience = [partner.tenant_id, grant.tenant_id]
        told.append(grant_told(EventType.delegated_access_extended, grant, partner, audience))
    await events.announce(
        session,
        principal,
        "delegated_access_extended" if approve else "delegated_access_extension_declined",
        resource_type="delegated_access_grant",
        resource_id=grant.id,
        detail={"days": days, "expires_at": grant.expires_at.isoformat()},
        tell=told,
    )
    return grant
