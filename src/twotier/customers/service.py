"""Customers: reseller relationships (two-tier and reseller-only), time-bound delegated
access, the customer's control over who acts in its tenant, and acting under a grant.

A partner reaches a customer only through an active relationship; without one, every
customer id is 404 (``access_customer``). Acting in the customer's directory also needs an
unexpired grant covering the directory role the task needs, and the acting user's partner
role; expiry is checked at each request, so no background job is needed for safety.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from twotier.access import queries as access_queries
from twotier.access import service as access
from twotier.access.models import DelegatedAccessGrant, GrantSource
from twotier.channel import service as channel
from twotier.channel.models import LinkStatus, ResellerLink, Side
from twotier.config import Settings
from twotier.customers import emails, queries
from twotier.customers.models import (
    RELATIONSHIP,
    CustomerRelationship,
    EndedBy,
    RelationshipKind,
    RelationshipStatus,
    Tier,
    search_key,
)
from twotier.customers.schemas import (
    AccessRequest,
    CustomerInvitationCreate,
    CustomerInvitationOut,
    CustomerOut,
    GrantOut,
    MyPartnerOut,
)
from twotier.directory.models import PartnerAccount, Tenant, TenantKind
from twotier.directory.principal import Permission, Principal, require_reseller
from twotier.events import service as events
from twotier.events.catalog import EventType
from twotier.invitations import service as invitations
from twotier.invitations.models import Invitation, InvitationKind, InvitationStatus
from twotier.invitations.schemas import DraftEmail, InvitationView
from twotier.kit.clock import utcnow
from twotier.kit.errors import Conflict, Forbidden, Invalid, NotFound
from twotier.kit.pagination import PageParams, paginate
from twotier.partners.schemas import PartnerRef

# Invitations (the reseller's side).


def _access_of(invitation: Invitation) -> AccessRequest:
    return AccessRequest.model_validate(
        {"roles": invitation.details["roles"], "duration_days": invitation.details["days"]}
    )


async def _provider_of(session: AsyncSession, invitation: Invitation) -> PartnerAccount | None:
    provider_id = invitation.details.get("provider_account_id")
    return await session.get(PartnerAccount, uuid.UUID(provider_id)) if provider_id else None


async def customer_invitation_out(
    session: AsyncSession, settings: Settings, invitation: Invitation
) -> CustomerInvitationOut:
    reseller = await session.get_one(PartnerAccount, invitation.from_partner_account_id)
    provider = await _provider_of(session, invitation)
    access = _access_of(invitation)
    status = invitations.status_of(invitation)
    pending = status == InvitationStatus.pending
    url = invitations.invite_url(settings, invitation)
    draft = None
    if pending:
        subject, body = emails.customer_invitation_draft(
            reseller,
            provider,
            url,
            invitation.message,
            [r.value for r in access.roles],
            access.duration_days,
        )
        draft = DraftEmail(to=invitation.email, subject=subject, body=body)
    return CustomerInvitationOut(
        id=invitation.id,
        kind="two_tier" if provider else "direct",
        status=status,
        email=invitation.email,
        message=invitation.message,
        invite_url=url if pending else None,
        draft_email=draft,
        indirect_provider=PartnerRef.model_validate(provider) if provider else None,
        access=access,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
        sent_at=invitation.sent_at,
        accepted_at=invitation.accepted_at,
        accepted_by_customer_id=invitation.accepted_by_tenant_id,
        revoked_at=invitation.revoked_at,
    )


async def create_customer_invitation(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    data: CustomerInvitationCreate,
    provider_account_id: uuid.UUID | None,
) -> CustomerInvitationOut:
    reseller_id = require_reseller(principal, Permission.request_customer_relationship)
    if provider_account_id is not None:
        await channel.access_link(session, principal, Side.reseller, provider_account_id)
    invitation = invitations.new_invitation(
        settings,
        InvitationKind.customer,
        from_partner_account_id=reseller_id,
        email=data.email,
        message=data.message or None,
        details={
            "provider_account_id": str(provider_account_id) if provider_account_id else None,
            "roles": [r.value for r in data.access.roles],
            "days": data.access.duration_days,
        },
        created_by_user_id=principal.user_id,
        expires_at=utcnow() + timedelta(days=data.expires_in_days),
    )
    session.add(invitation)
    await session.flush()
    await events.announce(
        session,
        principal,
        "customer_invitation_created",
        resource_type="invitation",
        resource_id=invitation.id,
        detail={
            "email": data.email,
            "two_tier": provider_account_id is not None,
            "roles": invitation.details["roles"],
            "days": invitation.details["days"],
        },
        tell=[await _invitation_told(session, EventType.customer_invitation_created, invitation)],
    )
    return await customer_invitation_out(session, settings, invitation)


async def _invitation_told(
    session: AsyncSession,
    type_: EventType,
    invitation: Invitation,
    customer_id: uuid.UUID | None = None,
) -> events.Tell:
    """A customer-invitation event for the reseller, its provider (two-tier) and, once it
    accepted, the customer."""
    reseller = await session.get_one(PartnerAccount, invitation.from_partner_account_id)
    provider = await _provider_of(session, invitation)
    return events.Tell(
        type_,
        resource_type="invitation",
        resource_id=invitation.id,
        resource_uri=f"/api/v1/customer-invitations/{invitation.id}",
        audience=[reseller.tenant_id, provider.tenant_id if provider else None, customer_id],
        data={
            "reseller_partner_id": reseller.partner_id,
            "provider_partner_id": provider.partner_id if provider else None,
            "customer_id": str(customer_id) if customer_id else None,
        },
    )


async def list_customer_invitations(
    session: AsyncSession, settings: Settings, principal: Principal, params: PageParams
) -> tuple[list[CustomerInvitationOut], str | None]:
    require_reseller(principal, Permission.view_customers)
    rows, cursor = await paginate(
        session,
        select(Invitation).where(
            Invitation.from_partner_account_id == principal.partner_account_id,
            Invitation.kind == InvitationKind.customer,
        ),
        keys=[Invitation.created_at, Invitation.id],
        params=params,
    )
    return [await customer_invitation_out(session, settings, inv) for inv in rows], cursor


async def access_customer_invitation(
    session: AsyncSession, principal: Principal, invitation_id: uuid.UUID, *, lock: bool = False
) -> Invitation:
    """A customer invitation the caller's reseller account sent; anything else is 404."""
    require_reseller(principal, Permission.request_customer_relationship)
    return await channel.access_sent_invitation(
        session, principal, invitation_id, InvitationKind.customer, lock=lock
    )


async def send_customer_invitation(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    invitation_id: uuid.UUID,
    subject: str | None,
    body: str | None,
) -> tuple[str, str]:
    """Email the (possibly edited) draft; the body must keep the link."""
    invitation = await access_customer_invitation(session, principal, invitation_id, lock=True)
    out = await customer_invitation_out(session, settings, invitation)
    return await channel.send_invitation(
        session, settings, principal, invitation, subject, body, draft=out.draft_email
    )


async def revoke_customer_invitation(
    session: AsyncSession, settings: Settings, principal: Principal, invitation_id: uuid.UUID
) -> CustomerInvitationOut:
    invitation = await access_customer_invitation(session, principal, invitation_id, lock=True)
    told = await _invitation_told(session, EventType.customer_invitation_revoked, invitation)
    await channel.revoke_invitation(session, principal, invitation, tell=[told])
    return await customer_invitation_out(session, settings, invitation)


async def view_customer_invitation(session: AsyncSession, invitation: Invitation) -> InvitationView:
    """What anyone holding a customer invitation's link sees (no side effects)."""
    reseller = await session.get_one(PartnerAccount, invitation.from_partner_account_id)
    provider = await _provider_of(session, invitation)
    view = customer_view(invitation, reseller, provider)
    return InvitationView(
        kind=invitation.kind,
        status=invitations.status_of(invitation),
        from_=view["from"],
        to={"email": invitation.email, "partner_id": None},
        grants=view["grants"],
        consent_text=view["consent_text"],
        expires_at=invitation.expires_at,
    )


def customer_view(
    invitation: Invitation, reseller: PartnerAccount, provider: PartnerAccount | None
) -> dict[str, Any]:
    """What the public invitation view says for a customer invitation."""
    access = _access_of(invitation)
    until = (utcnow() + timedelta(days=access.duration_days)).date().isoformat()
    roles = [r.value for r in access.roles]
    partners = [reseller] + ([provider] if provider else [])
    names = " and ".join(p.company_name for p in partners)
    consent = (
        f"By accepting, you start a reseller relationship with {names}. "
        + (
            f"{reseller.company_name} manages your subscriptions, licenses and users, and "
            f"{provider.company_name} may submit orders on your behalf. "
            if provider
            else f"{reseller.company_name} manages your subscriptions, licenses and users. "
        )
        + f"Each gets {emails.roles_in_words(roles)} in your tenant until {until}. "
        "You can see and end their access at any time on your Partners page."
    )
    return {
        "from": {
            "id": str(reseller.id),
            "partner_id": reseller.partner_id,
            "company_name": reseller.company_name,
            "country": reseller.country,
            "support_profile": reseller.support_profile,
            "role": "indirect_reseller",
            "indirect_provider": PartnerRef.model_validate(provider).model_dump(mode="json")
            if provider
            else None,
        },
        "grants": [
            {"to": p.company_name, "partner_id": p.partner_id, "roles": roles, "until": until}
            for p in partners
        ],
        "consent_text": consent,
    }


# The customer accepts.


async def _active_relationship(
    session: AsyncSession, partner_id: uuid.UUID, customer_id: uuid.UUID
) -> CustomerRelationship | None:
    return await session.scalar(
        select(CustomerRelationship).where(
            CustomerRelationship.partner_account_id == partner_id,
            CustomerRelationship.customer_tenant_id == customer_id,
            CustomerRelationship.status == RelationshipStatus.active,
        )
    )


async def _check_acceptance(
    session: AsyncSession, principal: Principal, invitation: Invitation
) -> tuple[PartnerAccount, PartnerAccount | None]:
    """A usable customer invitation, accepted by a customer's global admin, from a reseller
    (and its provider, two-tier) still linked: (reseller, provider or None)."""
    if invitation.kind != InvitationKind.customer:
        raise Invalid(
            "This is not an invitation to a reseller relationship.",
            code="invitation_kind_mismatch",
        )
    invitations.check_usable(invitation)
    if not principal.can(Permission.manage_partner_access):
        raise Forbidden(
            "Only your organization's global admin can accept a reseller relationship. "
            "Send this link to them.",
            code="global_admin_required",
        )
    if principal.tenant_kind == TenantKind.operator:
        raise Forbidden("The operator's tenant cannot be a customer.", code="not_a_customer")
    reseller = await session.get_one(PartnerAccount, invitation.from_partner_account_id)
    provider = await _provider_of(session, invitation)
    if principal.tenant_id in {reseller.tenant_id, provider.tenant_id if provider else None}:
        raise Invalid("A partner cannot be its own customer.", code="cannot_invite_self")
    if provider is not None:
        link = await session.scalar(
            select(ResellerLink.id).where(
                ResellerLink.provider_account_id == provider.id,
                ResellerLink.reseller_account_id == reseller.id,
                ResellerLink.status == LinkStatus.active,
            )
        )
        if link is None:
            raise Conflict(
                f"{reseller.company_name} and {provider.company_name} are no longer connected; "
                "ask your reseller for a new invitation.",
                code="indirect_link_inactive",
            )
    return reseller, provider


async def _relationship_for(
    session: AsyncSession,
    principal: Principal,
    invitation: Invitation,
    partner: PartnerAccount,
    tier: Tier,
    other: PartnerAccount | None,
    kind: RelationshipKind,
    now: datetime,
) -> tuple[CustomerRelationship, bool]:
    """The partner's relationship with the accepting customer — a new one, or the active one
    (a direct one becomes two-tier when the reseller now brings a provider) — and whether
    it is new. "Adds, never replaces"."""
    customer_id = principal.tenant_id
    kind = (
        RelationshipKind.two_tier
        if invitation.details.get("provider_account_id")
        else (RelationshipKind.direct)
    )
    relationship = await _active_relationship(session, partner.id, customer_id)
    if relationship is not None:
        if kind == RelationshipKind.two_tier and relationship.kind == RelationshipKind.direct:
            relationship.kind = RelationshipKind.two_tier
            relationship.other_tier_account_id = other.id if other else None
        return relationship, False
    customer = await session.get_one(Tenant, customer_id)
    relationship = CustomerRelationship(
        id=uuid.uuid4(),
        search_name=search_key(customer.display_name),
        search_domain=search_key(customer.domain),
        customer_tenant_id=customer_id,
        partner_account_id=partner.id,
        kind=kind,
        tier=tier,
        other_tier_account_id=other.id if other else None,
        status=RelationshipStatus.active,
        active_pair=f"{partner.id}:{customer_id}",
        invitation_id=invitation.id,
        accepted_by_user_id=principal.user_id,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(relationship)
    except IntegrityError as exc:
        raise Conflict("This relationship was accepted just now.", code="invitation_used") from exc
    return relationship, True


async def accept_customer_invitation(
    session: AsyncSession, settings: Settings, principal: Principal, invitation: Invitation
) -> list[dict[str, Any]]:
    """The customer's global admin accepts: a relationship and a grant per tier (the
    reseller, and its provider two-tier). Check, write, announce."""
    reseller, provider = await _check_acceptance(session, principal, invitation)

    access_request = _access_of(invitation)
    roles = [r.value for r in access_request.roles]
    now = utcnow()
    kind = RelationshipKind.two_tier if provider else RelationshipKind.direct
    customer = await session.get_one(Tenant, principal.tenant_id)
    tiers: list[tuple[PartnerAccount, Tier, PartnerAccount | None]] = [
        (reseller, Tier.reseller, provider)
    ]
    if provider is not None:
        tiers.append((provider, Tier.provider, reseller))
    created: list[dict[str, Any]] = []
    told: list[events.Tell] = []
    granted: list[events.Tell] = []
    for partner, tier, other in tiers:
        relationship, new = await _relationship_for(
            session, principal, invitation, partner, tier, other, kind, now
        )
        if new:
            told.append(
                _relationship_told(EventType.relationship_created, relationship, partner, other)
            )
        grant = access.new_grant(
            session,
            principal,
            tenant_id=customer.id,
            partner_account_id=partner.id,
            roles=roles,
            days=access_request.duration_days,
            source=GrantSource.relationship,
            source_id=relationship.id,
            now=now,
        )
        audience = [partner.tenant_id, customer.id]
        granted.append(
            access.grant_told(EventType.delegated_access_granted, grant, partner, audience)
        )
        emails.relationship_accepted(session, settings, customer, partner, roles)
        created.append(
            {
                "partner": PartnerRef.model_validate(partner).model_dump(mode="json"),
                "tier": tier,
                "kind": kind,
                "roles": roles,
                "expires_at": grant.expires_at.isoformat(),
            }
        )
    invitations.mark_accepted(invitation, principal)
    await session.flush()

    accepted = await _invitation_told(
        session, EventType.customer_invitation_accepted, invitation, customer.id
    )
    await events.announce(
        session,
        principal,
        "indirect_reseller_relationship_accepted" if provider else "reseller_relationship_accepted",
        resource_type="customer",
        resource_id=customer.id,
        detail={
            "reseller_partner_id": reseller.partner_id,
            "provider_partner_id": provider.partner_id if provider else None,
            "roles": roles,
            "days": access_request.duration_days,
        },
        tell=[accepted, *told, *granted],
    )
    return created


def _relationship_told(
    type_: EventType,
    rel: CustomerRelationship,
    partner: PartnerAccount,
    other: PartnerAccount | None,
    data: dict[str, Any] | None = None,
) -> events.Tell:
    return events.Tell(
        type_,
        resource_type="customer_relationship",
        resource_id=rel.id,
        resource_uri=f"/api/v1/customers/{rel.customer_tenant_id}",
        audience=[partner.tenant_id, other.tenant_id if other else None, rel.customer_tenant_id],
        data={
            "customer_id": str(rel.customer_tenant_id),
            "partner_id": partner.partner_id,
            "tier": rel.tier,
            "kind": rel.kind,
            "other_tier_partner_id": other.partner_id if other else None,
        }
        | (data or {}),
    )


# The partner's view of its customers.


@access.customer_reach
async def access_customer(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID
) -> CustomerRelationship:
    """The caller's active relationship with ``customer_id``; 404 for anything else."""
    relationship = (
        await _active_relationship(session, principal.partner_account_id, customer_id)
        if principal.partner_account_id is not None
        else None
    )
    if relationship is None:
        raise NotFound("No such customer.", code="customer_not_found")
    return relationship


def _grant_out(grant: DelegatedAccessGrant, partner: PartnerAccount) -> GrantOut:
    ref = PartnerRef.model_validate(partner)
    return GrantOut(
        id=grant.id,
        partner=ref,
        roles=grant.roles,
        created_at=grant.created_at,
        expires_at=grant.expires_at,
        status=grant.effective_status(utcnow()),
        extension_requested_days=grant.extension_days,
    )


async def grant_out(session: AsyncSession, grant: DelegatedAccessGrant) -> GrantOut:
    return _grant_out(grant, await session.get_one(PartnerAccount, grant.partner_account_id))


async def customer_detail(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID
) -> tuple[CustomerOut, list[GrantOut]]:
    """The customer as the partner sees it, and the partner's grants in its tenant."""
    record = await queries.customer_record(session, principal, customer_id)
    if record is None:
        raise NotFound("No such customer.", code="customer_not_found")
    return record


async def customer_detail_dict(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID
) -> dict[str, Any]:
    """``customer_detail`` as one ``CustomerDetail``'s fields (the API's hot read)."""
    record = await queries.customer_record_dict(session, principal, customer_id)
    if record is None:
        raise NotFound("No such customer.", code="customer_not_found")
    return record


async def _end(
    session: AsyncSession,
    settings: Settings,
    rel: CustomerRelationship,
    *,
    by_customer: bool,
    actor: Principal,
) -> list[events.Tell]:
    """End the relationship and its grants; what to tell of it (the caller announces)."""
    user_id = actor.user_id
    now = utcnow()
    RELATIONSHIP.move(rel, RelationshipStatus.terminated)
    rel.active_pair = None
    rel.terminated_at = now
    rel.terminated_by = EndedBy.customer if by_customer else EndedBy.partner
    rel.terminated_by_user_id = user_id
    revoked = await access.revoke_grants(
        session, tenant_id=rel.customer_tenant_id, partner_account_id=rel.partner_account_id
    )
    customer = await session.get_one(Tenant, rel.customer_tenant_id)
    partner = await session.get_one(PartnerAccount, rel.partner_account_id)
    emails.relationship_ended(session, settings, customer, partner, by_customer)
    await session.flush()
    other = (
        await session.get(PartnerAccount, rel.other_tier_account_id)
        if rel.other_tier_account_id
        else None
    )
    by = {"by": rel.terminated_by.value}
    return [
        _relationship_told(EventType.relationship_ended, rel, partner, other, by),
        *(
            access.grant_told(
                EventType.delegated_access_revoked, grant, partner, [partner.tenant_id, customer.id]
            )
            for grant in revoked
        ),
    ]


async def end_relationship(
    session: AsyncSession, settings: Settings, principal: Principal, customer_id: uuid.UUID
) -> None:
    rel = await access_customer(session, principal, customer_id)
    if not principal.can(Permission.manage_customers):
        raise Forbidden("Only admin agents end customer relationships.", code="insufficient_role")
    told = await _end(session, settings, rel, by_customer=False, actor=principal)
    await events.announce(
        session,
        principal,
        "customer_relationship_ended",
        resource_type="customer",
        resource_id=customer_id,
        subject_tenant_id=customer_id,
        detail={"by": EndedBy.partner.value},
        tell=told,
    )


async def delegated_access(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID
) -> list[GrantOut]:
    return (await customer_detail(session, principal, customer_id))[1]


# The customer's side.


def _require_customer_admin(principal: Principal) -> None:
    if not principal.can(Permission.manage_partner_access):
        raise Forbidden(
            "Only your global admin manages your partners.", code="global_admin_required"
        )


async def my_partners(
    session: AsyncSession, principal: Principal, params: PageParams
) -> tuple[list[MyPartnerOut], str | None]:
    _require_customer_admin(principal)
    other = aliased(PartnerAccount)
    rows, cursor = await paginate(
        session,
        select(CustomerRelationship, PartnerAccount, other)
        .join(PartnerAccount, PartnerAccount.id == CustomerRelationship.partner_account_id)
        .outerjoin(other, other.id == CustomerRelationship.other_tier_account_id)
        .where(
            CustomerRelationship.customer_tenant_id == principal.tenant_id,
            CustomerRelationship.status == RelationshipStatus.active,
        ),
        keys=[CustomerRelationship.created_at, CustomerRelationship.id],
        params=params,
        scalars=False,
    )
    grants = await access_queries.grants_of(
        session, principal.tenant_id, [p.id for _r, p, _o in rows]
    )
    out = []
    for rel, partner, o in rows:
        ref = PartnerRef.model_validate(partner)
        out.append(
            MyPartnerOut(
                partner=ref,
                relationship=queries.relationship_out(
                    rel.kind,
                    rel.tier,
                    rel.created_at,
                    PartnerRef.model_validate(o) if o is not None else None,
                ),
                access=[_grant_out(g, p) for g, p in grants if p.id == partner.id],
            )
        )
    return out, cursor


async def revoke_partner(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    partner_account_id: uuid.UUID,
) -> None:
    """End the partner's relationship and every grant in this tenant, at once."""
    _require_customer_admin(principal)
    rel = await _active_relationship(session, partner_account_id, principal.tenant_id)
    if rel is None:
        raise NotFound("No such partner.", code="partner_not_found")
    told = await _end(session, settings, rel, by_customer=True, actor=principal)
    await events.announce(
        session,
        principal,
        "customer_relationship_ended",
        resource_type="partner_account",
        resource_id=partner_account_id,
        detail={"by": EndedBy.customer.value},
        tell=told,
    )


class CustomerInvitations:
    """The acceptor of customer invitations: accepting one creates the relationships."""

    async def view(self, session: AsyncSession, invitation: Invitation) -> InvitationView:
        return await view_customer_invitation(session, invitation)

    async def accept(
        self,
        session: AsyncSession,
        settings: Settings,
        principal: Principal,
        invitation: Invitation,
    ) -> dict[str, Any]:
        created = await accept_customer_invitation(session, settings, principal, invitation)
        return {"relationships": created}


invitations.register(InvitationKind.customer, CustomerInvitations())
