"""Portal pages of the channel: Indirect resellers, Indirect providers, the invitation link."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.channel import service
from twotier.channel.models import Side
from twotier.channel.schemas import ResellerInvitationCreate
from twotier.config import Settings
from twotier.directory.models import PartnerAccount
from twotier.directory.principal import Permission, Principal, require_provider, require_reseller
from twotier.directory.roles import ROLE_LABELS
from twotier.invitations.drafts import render_draft
from twotier.invitations.models import INVITATION_STATUS_LABELS, Invitation, InvitationKind
from twotier.kit.deps import TransactionalRoute, get_session, get_settings
from twotier.kit.errors import AppError, Forbidden, Invalid
from twotier.kit.i18n import _
from twotier.kit.pagination import PageParams
from twotier.web.forms import form_values, parse
from twotier.web.render import check_csrf, flashes, render, signed_in, translated

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)

NOTICES = {
    "authorized": "The provider is authorized. It now appears below.",
    "sent": "The invitation email is on its way.",
    "revoked": "The invitation was revoked; its link no longer works.",
    "ended": "The relationship has ended.",
    "accepted": "The reseller relationship is accepted. Your partners are listed below.",
    "removed": "The partner was removed; its access to your tenant has ended.",
    "extension_approved": "The extension is approved.",
    "extension_declined": "The extension was declined; the access ends as planned.",
}


async def _resellers_page(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    cursor: str | None = None,
    inv_cursor: str | None = None,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    flashes: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    require_provider(principal, Permission.view_partner)
    links, links_next = await service.list_links(
        session, principal, Side.provider, None, PageParams(limit=50, cursor=cursor)
    )
    invitations, inv_next = await service.list_sent_invitations(
        session,
        settings,
        principal,
        InvitationKind.reseller,
        None,
        PageParams(limit=50, cursor=inv_cursor),
    )
    return render(
        request,
        "indirect_resellers.html",
        {
            "links": links,
            "links_next": links_next,
            "invitations": list(reversed(invitations)),
            "invitations_next": inv_next,
            "status_labels": translated(INVITATION_STATUS_LABELS),
            "can_invite": principal.can(Permission.invite_resellers),
            "can_manage": principal.can(Permission.manage_customers),
            "form": form or {},
            "errors": errors or {},
            "error": error,
            "flashes": flashes or [],
        },
        principal=principal,
        section="indirect",
        status_code=status_code,
    )


@router.get("/indirect-resellers")
async def resellers_page(
    request: Request,
    cursor: str | None = Query(None),
    inv_cursor: str | None = Query(None),
    notice: str | None = Query(None),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    return await _resellers_page(
        request,
        session,
        settings,
        principal,
        cursor=cursor,
        inv_cursor=inv_cursor,
        flashes=flashes(notice, NOTICES),
    )


@router.post("/indirect-resellers/invite", dependencies=[Depends(check_csrf)])
async def invite_reseller(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    form = form_values(await request.form())
    data, errors = parse(ResellerInvitationCreate, {k: v for k, v in form.items() if v})
    if data is None:
        return await _resellers_page(
            request, session, settings, principal, form=form, errors=errors, status_code=422
        )
    try:
        invitation = await service.create_reseller_invitation(session, settings, principal, data)
    except (Invalid, Forbidden) as exc:
        return await _resellers_page(
            request,
            session,
            settings,
            principal,
            form=form,
            error=exc.detail,
            status_code=exc.status,
        )
    return RedirectResponse(f"/indirect-resellers/invitations/{invitation.id}", status_code=303)


async def _draft_page(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    invitation_id: uuid.UUID,
    *,
    subject: str | None = None,
    body: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    require_provider(principal, Permission.invite_resellers)
    invitation = await service.access_sent_invitation(
        session, principal, invitation_id, InvitationKind.reseller
    )
    out = await service.sent_invitation_out(session, settings, invitation)
    return render_draft(
        request,
        principal,
        out,
        send_action=f"/indirect-resellers/invitations/{invitation.id}/send",
        back_href="/indirect-resellers",
        back_label=_("Indirect resellers"),
        section="indirect",
        subject=subject,
        body=body,
        error=error,
        status_code=status_code,
    )


@router.get("/indirect-resellers/invitations/{invitation_id}")
async def draft_page(
    request: Request,
    invitation_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    return await _draft_page(request, session, settings, principal, invitation_id)


@router.post(
    "/indirect-resellers/invitations/{invitation_id}/send", dependencies=[Depends(check_csrf)]
)
async def send_draft(
    request: Request,
    invitation_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    require_provider(principal, Permission.invite_resellers)
    form = form_values(await request.form())
    invitation = await service.access_sent_invitation(
        session, principal, invitation_id, InvitationKind.reseller, lock=True
    )
    try:
        await service.send_invitation(
            session,
            settings,
            principal,
            invitation,
            form.get("subject") or None,
            form.get("body") or None,
        )
    except AppError as exc:
        return await _draft_page(
            request,
            session,
            settings,
            principal,
            invitation_id,
            subject=form.get("subject"),
            body=form.get("body"),
            error=exc.detail,
            status_code=exc.status,
        )
    return RedirectResponse("/indirect-resellers?notice=sent", status_code=303)


@router.post(
    "/indirect-resellers/invitations/{invitation_id}/revoke", dependencies=[Depends(check_csrf)]
)
async def revoke(
    invitation_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    require_provider(principal, Permission.invite_resellers)
    invitation = await service.access_sent_invitation(
        session, principal, invitation_id, InvitationKind.reseller, lock=True
    )
    await service.revoke_invitation(session, principal, invitation)
    return RedirectResponse("/indirect-resellers?notice=revoked", status_code=303)


@router.get("/indirect-providers")
async def providers_page(
    request: Request,
    cursor: str | None = Query(None),
    notice: str | None = Query(None),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    require_reseller(principal, Permission.view_partner)
    links, links_next = await service.list_links(
        session, principal, Side.reseller, None, PageParams(limit=50, cursor=cursor)
    )
    return render(
        request,
        "indirect_providers.html",
        {
            "links": links,
            "links_next": links_next,
            "role_labels": {r.value: label for r, label in ROLE_LABELS.items()},
            "can_manage": principal.can(Permission.authorize_provider),
            "can_invite_customers": principal.can(Permission.request_customer_relationship),
            "flashes": flashes(notice, NOTICES),
        },
        principal=principal,
        section="indirect",
    )


def _side_pages(page: str, side: Side, label: str) -> None:
    @router.post(
        f"/{page}/{{other_id}}/end",
        dependencies=[Depends(check_csrf)],
        name=f"{side}_end_link_page",
    )
    async def end_link(
        other_id: uuid.UUID,
        principal: Principal = Depends(signed_in),
        session: AsyncSession = Depends(get_session),
        settings: Settings = Depends(get_settings),
    ) -> Response:
        await service.terminate_link(session, settings, principal, side, other_id)
        return RedirectResponse(f"/{page}?notice=ended", status_code=303)


_side_pages("indirect-resellers", Side.provider, "Indirect resellers")
_side_pages("indirect-providers", Side.reseller, "Indirect providers")


# The link in the email (its page is invitations.views).


async def reseller_invitation_page(
    request: Request,
    session: AsyncSession,
    principal: Principal | None,
    invitation: Invitation,
    here: str,
    *,
    error: str | None,
    status_code: int,
) -> Response:
    """A reseller's view: the provider, the consent; only a reseller's admin agent accepts."""
    view = await service.view_invitation(session, invitation)
    sender = await session.get_one(PartnerAccount, invitation.from_partner_account_id)
    blocked = blocked_code = None
    my_company = None
    if principal is not None:
        try:
            require_reseller(principal, Permission.authorize_provider)
        except Forbidden as exc:
            blocked, blocked_code = exc.detail, exc.code
        else:
            if invitation.to_partner_id and invitation.to_partner_id != principal.partner_id:
                blocked = _("This invitation is for another partner (partner ID %(id)s).") % {
                    "id": invitation.to_partner_id
                }
                blocked_code = "invitation_not_for_you"
            mine = await session.get(PartnerAccount, principal.partner_account_id)
            my_company = mine.company_name if mine else None
    return render(
        request,
        "invitation.html",
        {
            "state": "usable",
            "sender": sender,
            "consent_text": view.consent_text,
            "here": here,
            "blocked": blocked,
            "blocked_code": blocked_code,
            "my_company": my_company,
            "error": error,
        },
        principal=principal,
        status_code=status_code,
    )
