"""Provider ↔ reseller: invitations as real objects, "Authorize indirect provider", links.

An invitation's token is 256 bits derived from a random nonce and the server secret; only
its SHA-256 is stored for lookup, so the database alone never yields a working link, yet
the sender can see its link again while the invitation is pending.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from twotier.access import service as access
from twotier.access.models import DelegatedAccessGrant, GrantSource
from twotier.channel import emails, queries
from twotier.channel.models import LINK, LinkStatus, ResellerLink, Side
from twotier.channel.schemas import GrantOut, InvitationOut, LinkOut, ResellerInvitationCreate
from twotier.config import Settings
from twotier.directory.models import PartnerAccount
from twotier.directory.principal import (
    Permission,
    Principal,
    require_provider,
    require_reseller,
)
from twotier.events import service as events
from twotier.events.catalog import EventType
from twotier.invitations import service as invitations
from twotier.invitations.models import INVITATION, Invitation, InvitationKind, InvitationStatus
from twotier.invitations.schemas import DraftEmail, InvitationView
from twotier.kit.clock import utcnow
from twotier.kit.email import queue_email
from twotier.kit.errors import Conflict, Forbidden, Invalid, NotFound
from twotier.kit.i18n import _
from twotier.kit.pagination import AnySelect, PageParams, paginate
from twotier.partners.schemas import PartnerRef

PROVIDER_GRANT_ROLES = ("user_admin", "license_admin", "helpdesk_admin")
PROVIDER_GRANT_DAYS = 365


def consent_text(provider: PartnerAccount, until: datetime) -> str:
    return _(
        'By selecting "Authorize indirect provider", you allow %(provider)s to submit orders '
        "and add subscriptions on behalf of your customers, and you give %(provider)s admin "
        "access to your tenant (user, license and helpdesk administration) until %(until)s. "
        "You can end this at any time on your Indirect providers page."
    ) % {"provider": provider.company_name, "until": until.date().isoformat()}


# Who may do what.


def require_side(principal: Principal, side: Side, permission: Permission) -> uuid.UUID:
    """An approved partner on ``side`` (a provider or a reseller) with ``permission``."""
    if side == Side.provider:
        return require_provider(principal, permission)
    return require_reseller(principal, permission)


# Reseller invitations (the provider's side).


async def _partner(session: AsyncSession, account_id: uuid.UUID) -> PartnerAccount:
    return await session.get_one(PartnerAccount, account_id)


def draft_for(settings: Settings, invitation: Invitation, provider: PartnerAccount) -> DraftEmail:
    subject, body = emails.reseller_invitation_draft(
        provider, invitations.invite_url(settings, invitation), invitation.message
    )
    return DraftEmail(to=invitation.email, subject=subject, body=body)


def invitation_out(
    settings: Settings,
    invitation: Invitation,
    sender: PartnerAccount,
    accepted_by: PartnerAccount | None = None,
) -> InvitationOut:
    status = invitations.status_of(invitation)
    pending = status == InvitationStatus.pending
    return InvitationOut(
        id=invitation.id,
        kind=invitation.kind,
        status=status,
        email=invitation.email,
        to_partner_id=invitation.to_partner_id,
        message=invitation.message,
        invite_url=invitations.invite_url(settings, invitation) if pending else None,
        draft_email=draft_for(settings, invitation, sender) if pending else None,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
        sent_at=invitation.sent_at,
        accepted_at=invitation.accepted_at,
        accepted_by=PartnerRef.model_validate(accepted_by) if accepted_by else None,
        revoked_at=invitation.revoked_at,
    )


async def sent_invitation_out(
    session: AsyncSession, settings: Settings, invitation: Invitation
) -> InvitationOut:
    sender = await _partner(session, invitation.from_partner_account_id)
    acceptor = (
        await session.scalar(
            select(PartnerAccount).where(
                PartnerAccount.tenant_id == invitation.accepted_by_tenant_id
            )
        )
        if invitation.accepted_by_tenant_id
        else None
    )
    return invitation_out(settings, invitation, sender, acceptor)


async def create_reseller_invitation(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    data: ResellerInvitationCreate,
) -> InvitationOut:
    provider_id = require_provider(principal, Permission.invite_resellers)
    provider = await _partner(session, provider_id)
    if data.partner_id is not None and data.partner_id == provider.partner_id:
        raise Invalid("A provider cannot invite itself.", code="cannot_invite_self")
    invitation = invitations.new_invitation(
        settings,
        InvitationKind.reseller,
        from_partner_account_id=provider_id,
        email=data.email,
        to_partner_id=data.partner_id,
        message=data.message or None,
        created_by_user_id=principal.user_id,
        expires_at=utcnow() + timedelta(days=data.expires_in_days),
    )
    session.add(invitation)
    await session.flush()
    await events.announce(
        session,
        principal,
        "reseller_invitation_created",
        resource_type="invitation",
        resource_id=invitation.id,
        detail={"email": data.email, "partner_id": data.partner_id},
        tell=[
            events.Tell(
                EventType.reseller_invitation_created,
                resource_type="invitation",
                resource_id=invitation.id,
                resource_uri=f"/api/v1/reseller-invitations/{invitation.id}",
                audience=[provider.tenant_id],
                data={"email": data.email, "partner_id": data.partner_id},
            ),
        ],
    )
    return invitation_out(settings, invitation, provider)


async def access_sent_invitation(
    session: AsyncSession,
    principal: Principal,
    invitation_id: uuid.UUID,
    kind: str,
    *,
    lock: bool = False,
) -> Invitation:
    """An invitation the caller's partner account sent; anything else is 404."""
    stmt = select(Invitation).where(
        Invitation.id == invitation_id,
        Invitation.kind == kind,
        Invitation.from_partner_account_id == principal.partner_account_id,
    )
    if lock:
        stmt = stmt.with_for_update()
    invitation = await session.scalar(stmt) if principal.partner_account_id is not None else None
    if invitation is None:
        raise NotFound("No such invitation.", code="invitation_not_found")
    return invitation


def _status_filter(stmt: AnySelect, status: str | None, now: datetime) -> AnySelect:
    if status == InvitationStatus.expired:
        return stmt.where(
            Invitation.status == InvitationStatus.pending, Invitation.expires_at <= now
        )
    if status == InvitationStatus.pending:
        return stmt.where(
            Invitation.status == InvitationStatus.pending, Invitation.expires_at > now
        )
    if status:
        return stmt.where(Invitation.status == status)
    return stmt


async def list_sent_invitations(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    kind: str,
    status: str | None,
    params: PageParams,
) -> tuple[list[InvitationOut], str | None]:
    sender = (
        await _partner(session, principal.partner_account_id)
        if (principal.partner_account_id)
        else None
    )
    if sender is None:
        return [], None
    acceptor = aliased(PartnerAccount)
    stmt = (
        select(Invitation, acceptor)
        .outerjoin(acceptor, and_(acceptor.tenant_id == Invitation.accepted_by_tenant_id))
        .where(Invitation.from_partner_account_id == sender.id, Invitation.kind == kind)
    )
    stmt = _status_filter(stmt, status, utcnow())
    rows, cursor = await paginate(
        session, stmt, keys=[Invitation.created_at, Invitation.id], params=params, scalars=False
    )
    return [invitation_out(settings, inv, sender, acc) for inv, acc in rows], cursor


def _require_pending(invitation: Invitation) -> None:
    status = invitations.status_of(invitation)
    if status != InvitationStatus.pending:
        raise Conflict(f"The invitation is {status}.", code="invitation_not_pending")


async def send_invitation(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    invitation: Invitation,
    subject: str | None,
    body: str | None,
    *,
    draft: DraftEmail | None = None,
) -> tuple[str, str]:
    """Email the invitation: the sender's edit of ``draft`` (by default the reseller
    invitation's draft), which must keep the link."""
    _require_pending(invitation)
    if not invitation.email:
        raise Invalid(
            "This invitation has no email address to send to.", code="invitation_has_no_email"
        )
    if draft is None:
        sender = await _partner(session, invitation.from_partner_account_id)
        draft = draft_for(settings, invitation, sender)
    subject = subject or draft.subject
    body = body or draft.body
    if invitations.invite_url(settings, invitation) not in body:
        raise Invalid(
            "The email must keep the invitation link; put it back and send again.",
            code="invite_link_missing",
        )
    queue_email(session, settings, to=invitation.email, subject=subject, body=body)
    invitation.sent_at = utcnow()
    await session.flush()
    await events.announce(
        session,
        principal,
        "invitation_sent",
        resource_type="invitation",
        resource_id=invitation.id,
        detail={"to": invitation.email, "kind": invitation.kind},
    )
    return invitation.email, subject


async def revoke_invitation(
    session: AsyncSession,
    principal: Principal,
    invitation: Invitation,
    *,
    tell: Sequence[events.Tell] = (),
) -> None:
    """Revoke a pending invitation of any kind; ``tell`` is what its kind tells of it
    (a reseller invitation's event is told here)."""
    _require_pending(invitation)
    INVITATION.move(invitation, InvitationStatus.revoked)
    invitation.revoked_at = utcnow()
    await session.flush()
    told = [*tell] + (
        [
            events.Tell(
                EventType.reseller_invitation_revoked,
                resource_type="invitation",
                resource_id=invitation.id,
                resource_uri=f"/api/v1/reseller-invitations/{invitation.id}",
                audience=[principal.tenant_id],
            )
        ]
        if invitation.kind == InvitationKind.reseller
        else []
    )
    await events.announce(
        session,
        principal,
        "invitation_revoked",
        resource_type="invitation",
        resource_id=invitation.id,
        detail={"kind": invitation.kind},
        tell=told,
    )


# Anyone holding the link.


async def view_invitation(session: AsyncSession, invitation: Invitation) -> InvitationView:
    sender = await _partner(session, invitation.from_partner_account_id)
    until = utcnow() + timedelta(days=PROVIDER_GRANT_DAYS)
    return InvitationView(
        kind=invitation.kind,
        status=invitations.status_of(invitation),
        from_={
            "id": str(sender.id),
            "partner_id": sender.partner_id,
            "company_name": sender.company_name,
            "country": sender.country,
            "support_profile": sender.support_profile,
            "role": "indirect_provider",
        },
        to={"email": invitation.email, "partner_id": invitation.to_partner_id},
        grants=[
            {"to": sender.company_name, "what": "submit_orders_for_your_customers"},
            {
                "to": sender.company_name,
                "what": "admin_access_to_your_tenant",
                "roles": list(PROVIDER_GRANT_ROLES),
                "until": until.isoformat(),
            },
        ],
        consent_text=consent_text(sender, until),
        expires_at=invitation.expires_at,
    )


async def _check_authorization(
    session: AsyncSession, principal: Principal, invitation: Invitation
) -> tuple[PartnerAccount, PartnerAccount]:
    """A usable reseller invitation, for this reseller's admin agent, from another partner:
    (provider, reseller)."""
    if invitation.kind != InvitationKind.reseller:
        raise Invalid(
            "This is not an invitation to authorize a provider.", code="invitation_kind_mismatch"
        )
    invitations.check_usable(invitation)
    reseller_id = require_reseller(principal, Permission.authorize_provider)
    if invitation.to_partner_id and invitation.to_partner_id != principal.partner_id:
        raise Forbidden(
            f"This invitation is for another partner (partner ID {invitation.to_partner_id}).",
            code="invitation_not_for_you",
        )
    provider = await _partner(session, invitation.from_partner_account_id)
    if provider.id == reseller_id:
        raise Invalid("A partner cannot authorize itself.", code="cannot_invite_self")
    return provider, await _partner(session, reseller_id)


async def accept_reseller_invitation(
    session: AsyncSession, settings: Settings, principal: Principal, invitation: Invitation
) -> LinkOut:
    """ "Authorize indirect provider": the link and the provider's grant in the reseller's
    tenant. Check, write, announce."""
    provider, reseller = await _check_authorization(session, principal, invitation)
    now = utcnow()
    link = ResellerLink(
        id=uuid.uuid4(),
        provider_account_id=provider.id,
        reseller_account_id=reseller.id,
        status=LinkStatus.active,
        active_pair=f"{provider.id}:{reseller.id}",
        invitation_id=invitation.id,
        authorized_by_user_id=principal.user_id,
        created_at=now,
    )
    try:
        async with session.begin_nested():  # begin_nested flushes first: add inside it
            session.add(link)
    except IntegrityError as exc:
        raise Conflict(
            f"{provider.company_name} is already your indirect provider.", code="already_linked"
        ) from exc
    grant = access.new_grant(
        session,
        principal,
        tenant_id=reseller.tenant_id,
        partner_account_id=provider.id,
        roles=PROVIDER_GRANT_ROLES,
        days=PROVIDER_GRANT_DAYS,
        source=GrantSource.reseller_link,
        source_id=link.id,
        now=now,
    )
    invitations.mark_accepted(invitation, principal)
    await session.flush()
    emails.link_authorized(session, settings, provider, reseller)
    both = [provider.tenant_id, reseller.tenant_id]
    pair = {"provider_partner_id": provider.partner_id, "reseller_partner_id": reseller.partner_id}
    await events.announce(
        session,
        principal,
        "indirect_provider_authorized",
        resource_type="reseller_link",
        resource_id=link.id,
        detail=pair
        | {
            "invitation_id": str(invitation.id),
            "grant": {"roles": grant.roles, "expires_at": grant.expires_at.isoformat()},
        },
        tell=[
            events.Tell(
                EventType.reseller_invitation_accepted,
                resource_type="invitation",
                resource_id=invitation.id,
                resource_uri=f"/api/v1/reseller-invitations/{invitation.id}",
                audience=both,
                data=pair | {"link_id": str(link.id)},
            ),
            events.Tell(
                EventType.link_created,
                resource_type="reseller_link",
                resource_id=link.id,
                resource_uri=f"/api/v1/indirect-resellers/{reseller.id}",
                audience=both,
                data=pair,
            ),
            access.grant_told(EventType.delegated_access_granted, grant, provider, both),
        ],
    )
    return _link_out(link, provider, grant)


# The two lists and ending a link.


def _link_out(
    link: ResellerLink, other: PartnerAccount, grant: DelegatedAccessGrant | None = None
) -> LinkOut:
    return LinkOut(
        id=other.id,
        link_id=link.id,
        partner_id=other.partner_id,
        company_name=other.company_name,
        country=other.country,
        status=link.status,
        since=link.created_at,
        terminated_at=link.terminated_at,
        access=GrantOut(
            id=grant.id,
            roles=grant.roles,
            expires_at=grant.expires_at,
            status=grant.effective_status(utcnow()),
        )
        if grant
        else None,
    )


async def list_links(
    session: AsyncSession,
    principal: Principal,
    side: Side,
    status: str | None,
    params: PageParams,
) -> tuple[list[LinkOut], str | None]:
    """The caller's indirect resellers (provider side) or providers (reseller side)."""
    require_side(principal, side, Permission.view_partner)
    assert principal.partner_account_id is not None  # noqa: S101 — require_side checked
    return await queries.link_page(
        session, principal.partner_account_id, side, LinkStatus(status or "active"), params
    )


async def access_link(
    session: AsyncSession,
    principal: Principal,
    side: Side,
    other_account_id: uuid.UUID,
    *,
    lock: bool = False,
) -> ResellerLink:
    """The caller's active link with ``other_account_id``; otherwise 404."""
    mine, other = queries.sides(side)
    stmt = select(ResellerLink).where(
        mine == principal.partner_account_id,
        other == other_account_id,
        ResellerLink.status == LinkStatus.active,
    )
    if lock:
        stmt = stmt.with_for_update()
    link = await session.scalar(stmt) if principal.partner_account_id else None
    if link is None:
        raise NotFound("No such indirect partner.", code="link_not_found")
    return link


async def terminate_link(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    side: Side,
    other_account_id: uuid.UUID,
) -> None:
    if side == Side.provider:
        require_provider(principal, Permission.manage_customers)
    else:
        require_reseller(principal, Permission.authorize_provider)
    link = await access_link(session, principal, side, other_account_id, lock=True)
    now = utcnow()
    LINK.move(link, LinkStatus.terminated)
    link.active_pair = None
    link.terminated_at = now
    link.terminated_by_account_id = principal.partner_account_id
    link.terminated_by_user_id = principal.user_id
    revoked = await access.revoke_grants(session, reseller_link_id=link.id)
    await session.flush()
    provider = await _partner(session, link.provider_account_id)
    reseller = await _partner(session, link.reseller_account_id)
    ended_by = provider if side == Side.provider else reseller
    emails.link_terminated(session, settings, provider, reseller, ended_by)
    both = [provider.tenant_id, reseller.tenant_id]
    ended = {
        "provider_partner_id": provider.partner_id,
        "reseller_partner_id": reseller.partner_id,
        "ended_by": side,
    }
    await events.announce(
        session,
        principal,
        "indirect_link_terminated",
        resource_type="reseller_link",
        resource_id=link.id,
        detail=ended,
        tell=[
            events.Tell(
                EventType.link_terminated,
                resource_type="reseller_link",
                resource_id=link.id,
                resource_uri=f"/api/v1/indirect-resellers/{reseller.id}",
                audience=both,
                data=ended,
            ),
            *(
                access.grant_told(EventType.delegated_access_revoked, grant, provider, both)
                for grant in revoked
            ),
        ],
    )


class ResellerInvitations:
    """The acceptor of reseller invitations: accepting one authorizes the provider."""

    async def view(self, session: AsyncSession, invitation: Invitation) -> InvitationView:
        return await view_invitation(session, invitation)

    async def accept(
        self,
        session: AsyncSession,
        settings: Settings,
        principal: Principal,
        invitation: Invitation,
    ) -> dict[str, Any]:
        return {"link": await accept_reseller_invitation(session, settings, principal, invitation)}


invitations.register(InvitationKind.reseller, ResellerInvitations())
