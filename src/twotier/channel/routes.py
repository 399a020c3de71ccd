from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.channel import service
from twotier.channel.models import Side
from twotier.channel.schemas import (
    AcceptOut,
    InvitationOut,
    InvitationStatusFilter,
    LinkOut,
    LinkStatusFilter,
    ResellerInvitationCreate,
)
from twotier.config import Settings
from twotier.directory.auth import CurrentPrincipal
from twotier.directory.principal import Permission, require_provider, require_reseller
from twotier.invitations import service as invitations
from twotier.invitations.models import InvitationKind
from twotier.invitations.schemas import AcceptIn, InvitationView, SendIn, SendOut
from twotier.kit.clock import utcnow
from twotier.kit.deps import TransactionalRoute, get_session, get_settings
from twotier.kit.idempotency import create_once
from twotier.kit.openapi import idempotency_key, problems
from twotier.kit.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/api/v1", tags=["channel"], route_class=TransactionalRoute)
RESELLER = InvitationKind.reseller


@router.post(
    "/reseller-invitations",
    status_code=201,
    openapi_extra=idempotency_key(),
    response_model=InvitationOut,
    responses=problems(403, 422),
    summary="Invite a reseller: a personalized link and a draft email",
)
async def create_reseller_invitation(
    data: ResellerInvitationCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> JSONResponse:
    async def make() -> InvitationOut:
        return await service.create_reseller_invitation(session, settings, principal, data)

    return await create_once(
        session, request, scope=f"user:{principal.user_id}", body=data, make=make
    )


@router.get(
    "/reseller-invitations",
    response_model=Page[InvitationOut],
    responses=problems(403),
    summary="The invitations my provider account sent, with their status",
)
async def list_reseller_invitations(
    principal: CurrentPrincipal,
    status: InvitationStatusFilter | None = Query(None),
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Page[InvitationOut]:
    require_provider(principal, Permission.view_partner)
    items, cursor = await service.list_sent_invitations(
        session, settings, principal, RESELLER, status, params
    )
    return Page[InvitationOut](items=items, next_cursor=cursor)


@router.get(
    "/reseller-invitations/{invitation_id}",
    response_model=InvitationOut,
    responses=problems(404),
)
async def get_reseller_invitation(
    invitation_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> InvitationOut:
    invitation = await service.access_sent_invitation(session, principal, invitation_id, RESELLER)
    return await service.sent_invitation_out(session, settings, invitation)


@router.post(
    "/reseller-invitations/{invitation_id}/send",
    status_code=202,
    response_model=SendOut,
    responses=problems(404, 409, 422),
    summary="Email the (possibly edited) draft; the body must keep the link",
)
async def send_reseller_invitation(
    invitation_id: uuid.UUID,
    data: SendIn,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> SendOut:
    require_provider(principal, Permission.invite_resellers)
    invitation = await service.access_sent_invitation(
        session, principal, invitation_id, RESELLER, lock=True
    )
    to, subject = await service.send_invitation(
        session, settings, principal, invitation, data.subject, data.body
    )
    return SendOut(id=invitation.id, to=to, subject=subject, queued_at=utcnow())


@router.post(
    "/reseller-invitations/{invitation_id}/revoke",
    response_model=InvitationOut,
    responses=problems(404, 409),
)
async def revoke_reseller_invitation(
    invitation_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> InvitationOut:
    require_provider(principal, Permission.invite_resellers)
    invitation = await service.access_sent_invitation(
        session, principal, invitation_id, RESELLER, lock=True
    )
    await service.revoke_invitation(session, principal, invitation)
    return await service.sent_invitation_out(session, settings, invitation)


@router.get(
    "/invitations/{token}",
    response_model=InvitationView,
    response_model_by_alias=True,
    responses=problems(404),
    summary="What an invitation asks for (no side effects)",
)
async def view_invitation(
    token: str, session: AsyncSession = Depends(get_session)
) -> InvitationView:
    return await invitations.view(session, token)


@router.post(
    "/invitations/{token}/accept",
    response_model=AcceptOut,
    responses=problems(401, 403, 404, 409, 410, 422),
    summary="Accept an invitation (the consent check box must be ticked)",
)
async def accept_invitation(
    token: str,
    data: AcceptIn,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> AcceptOut:
    accepted = await invitations.accept(session, settings, principal, token, consent=data.authorize)
    invitation = accepted.invitation
    return AcceptOut(kind=invitation.kind, status=invitation.status, **accepted.created)


def _side_routes(side: Side, path: str, other: str) -> None:
    @router.get(
        f"/{path}",
        response_model=Page[LinkOut],
        responses=problems(403),
        name=f"list_{path.replace('-', '_')}",
        summary=f"My {path.replace('-', ' ')}",
    )
    async def list_links(
        principal: CurrentPrincipal,
        status: LinkStatusFilter | None = Query(None),
        params: PageParams = Depends(page_params),
        session: AsyncSession = Depends(get_session),
    ) -> Page[LinkOut]:
        if side == Side.provider:
            require_provider(principal, Permission.view_partner)
        else:
            require_reseller(principal, Permission.view_partner)
        items, cursor = await service.list_links(session, principal, side, status, params)
        return Page[LinkOut](items=items, next_cursor=cursor)


_side_routes(Side.provider, "indirect-resellers", "reseller")
_side_routes(Side.reseller, "indirect-providers", "provider")


@router.delete(
    "/indirect-resellers/{reseller_id}",
    status_code=204,
    responses=problems(403, 404),
    summary="End the link now",
)
async def end_indirect_resellers(
    reseller_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    await service.terminate_link(session, settings, principal, Side.provider, reseller_id)
    return Response(status_code=204)


@router.delete(
    "/indirect-providers/{provider_id}",
    status_code=204,
    responses=problems(403, 404),
    summary="End the link now",
)
async def end_indirect_providers(
    provider_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    await service.terminate_link(session, settings, principal, Side.reseller, provider_id)
    return Response(status_code=204)
