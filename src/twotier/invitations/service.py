"""Invitations: personalized single-use links, and the one path that accepts them.

Every kind of invitation (a provider inviting a reseller, a reseller inviting a customer)
is an ``Invitation`` row. The package that owns a kind registers an ``Acceptor`` for it
(``channel`` for reseller links, ``customers`` for relationships); the API route, the portal
page and the demo all accept through ``accept``: look the token up, lock it, check it is
usable, check consent, then hand over to the kind's acceptor.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory.principal import Principal
from twotier.invitations.models import INVITATION, Invitation, InvitationKind, InvitationStatus
from twotier.invitations.schemas import InvitationView
from twotier.kit.clock import utcnow
from twotier.kit.errors import Gone, Invalid, NotFound
from twotier.kit.security import token_hash

# Tokens and links.


def invite_token(settings: Settings, nonce: str) -> str:
    """The link's token: derived from the row's random nonce and the server's secret, so the
    sender can see its link again while only the token's hash is stored."""
    digest = hmac.new(
        settings.secret_key.encode(), f"invitation:{nonce}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def invite_url(settings: Settings, invitation: Invitation) -> str:
    return f"{settings.base_url}/invitations/{invite_token(settings, invitation.token_nonce)}"


def new_invitation(settings: Settings, kind: InvitationKind, **fields: Any) -> Invitation:
    nonce = secrets.token_urlsafe(32)
    return Invitation(
        id=uuid.uuid4(),
        kind=kind,
        token_nonce=nonce,
        token_hash=token_hash(invite_token(settings, nonce)),
        status=InvitationStatus.pending,
        created_at=utcnow(),
        **fields,
    )


async def by_token(session: AsyncSession, token: str, *, lock: bool = False) -> Invitation:
    stmt = select(Invitation).where(Invitation.token_hash == token_hash(token))
    if lock:
        stmt = stmt.with_for_update()
    invitation = await session.scalar(stmt)
    if invitation is None:
        raise NotFound("This invitation link is not valid.", code="invitation_not_found")
    return invitation


def status_of(invitation: Invitation, now: datetime | None = None) -> InvitationStatus:
    """The invitation's status now: a pending one past its expiry is expired (never stored)."""
    if invitation.status == InvitationStatus.pending and invitation.expires_at <= (now or utcnow()):
        return InvitationStatus.expired
    return invitation.status


def check_usable(invitation: Invitation) -> None:
    """Pending and unexpired; 410 otherwise."""
    status = status_of(invitation)
    if status == InvitationStatus.accepted:
        raise Gone("This invitation was already used.", code="invitation_used")
    if status == InvitationStatus.revoked:
        raise Gone("The sender revoked this invitation.", code="invitation_revoked")
    if status == InvitationStatus.expired:
        raise Gone("This invitation has expired; ask for a new one.", code="invitation_expired")


def mark_accepted(invitation: Invitation, principal: Principal) -> None:
    """The one transition out of pending by acceptance (the acceptor calls it)."""
    INVITATION.move(invitation, InvitationStatus.accepted)
    invitation.accepted_at = utcnow()
    invitation.accepted_by_user_id = principal.user_id
    invitation.accepted_by_tenant_id = principal.tenant_id


# Acceptors, one per kind.


class Acceptor(Protocol):
    async def view(self, session: AsyncSession, invitation: Invitation) -> InvitationView:
        """What the link shows anyone holding it (no side effects)."""
        ...

    async def accept(
        self,
        session: AsyncSession,
        settings: Settings,
        principal: Principal,
        invitation: Invitation,
    ) -> dict[str, Any]:
        """Accept a locked, usable invitation of this kind; what it created, by name."""
        ...


_acceptors: dict[InvitationKind, Acceptor] = {}


def register(kind: InvitationKind, acceptor: Acceptor) -> None:
    _acceptors[kind] = acceptor


def acceptor_for(kind: InvitationKind) -> Acceptor:
    try:
        return _acceptors[kind]
    except KeyError:  # pragma: no cover — every kind's package registers at import
        raise RuntimeError(f"no acceptor registered for {kind} invitations") from None


@dataclass(frozen=True)
class Accepted:
    invitation: Invitation
    created: dict[str, Any]


async def view(session: AsyncSession, token: str) -> InvitationView:
    invitation = await by_token(session, token)
    return await acceptor_for(invitation.kind).view(session, invitation)


async def accept(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    token: str,
    *,
    consent: bool,
) -> Accepted:
    """The one way to accept an invitation: usable (410), consented (422), then its kind's
    acceptor, in the caller's transaction."""
    invitation = await by_token(session, token, lock=True)
    check_usable(invitation)
    if not consent:
        raise Invalid(
            "Tick the box to authorize; nothing was changed.", code="authorization_required"
        )
    created = await acceptor_for(invitation.kind).accept(session, settings, principal, invitation)
    return Accepted(invitation=invitation, created=created)
