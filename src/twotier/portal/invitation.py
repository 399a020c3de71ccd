"""The invitation link's page, for every kind: what it asks, the consent, and accepting.

The page composes each kind's own page (``channel.views`` for a reseller invitation,
``customers.views`` for a customer's); accepting goes through ``invitations.service.accept``,
as the API does.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.channel import views as channel_views
from twotier.config import Settings
from twotier.customers import views as customer_views
from twotier.directory.auth import optional_principal
from twotier.directory.principal import Principal
from twotier.invitations import service as invitations
from twotier.invitations.models import InvitationKind, InvitationStatus
from twotier.kit.deps import TransactionalRoute, get_session, get_settings
from twotier.kit.errors import AppError, Gone
from twotier.kit.i18n import _
from twotier.web.render import check_csrf, render, signed_in

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)

# Each kind's page, and where the browser goes once it is accepted.
PAGES = {
    InvitationKind.reseller: (
        channel_views.reseller_invitation_page,
        "/indirect-providers?notice=authorized",
    ),
    InvitationKind.customer: (customer_views.customer_invitation_page, "/partners?notice=accepted"),
}


async def _invitation_page(
    request: Request,
    session: AsyncSession,
    principal: Principal | None,
    token: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    invitation = await invitations.by_token(session, token)
    here = f"/invitations/{token}"
    status = invitations.status_of(invitation)
    if status != InvitationStatus.pending:
        titles = {
            InvitationStatus.accepted: (
                _("This invitation was already used"),
                _(
                    "Each invitation link works once. If you need to "
                    "connect again, ask the sender for a new one."
                ),
            ),
            InvitationStatus.revoked: (
                _("This invitation was withdrawn"),
                _("The sender revoked it. Contact them if you expected to connect."),
            ),
            InvitationStatus.expired: (
                _("This invitation has expired"),
                _("Ask the sender for a new invitation link."),
            ),
        }
        title, message = titles[status]
        return render(
            request,
            "invitation.html",
            {"state": status, "title": title, "message": message},
            principal=principal,
            status_code=410,
        )
    page, _accepted = PAGES[invitation.kind]
    return await page(
        request, session, principal, invitation, here, error=error, status_code=status_code
    )


@router.get("/invitations/{token}")
async def invitation_page(
    request: Request,
    token: str,
    principal: Principal | None = Depends(optional_principal),
    session: AsyncSession = Depends(get_session),
) -> Response:
    return await _invitation_page(request, session, principal, token)


@router.post("/invitations/{token}", dependencies=[Depends(check_csrf)])
async def accept_invitation(
    request: Request,
    token: str,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    form = await request.form()
    consent = form.get("authorize") == "true"
    try:
        accepted = await invitations.accept(session, settings, principal, token, consent=consent)
    except Gone:  # used, revoked or expired meanwhile: the page says which
        return await _invitation_page(request, session, principal, token)
    except AppError as exc:
        error = (
            _("Tick the box to authorize. Nothing was changed.")
            if exc.code == "authorization_required"
            else exc.detail
        )
        return await _invitation_page(
            request, session, principal, token, error=error, status_code=exc.status
        )
    return RedirectResponse(PAGES[accepted.invitation.kind][1], status_code=303)
