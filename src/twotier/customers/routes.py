from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.access import service as access
from twotier.channel import service as channel
from twotier.channel.models import Side
from twotier.config import Settings
from twotier.customers import queries, service
from twotier.customers.schemas import (
    CustomerDetail,
    CustomerInvitationCreate,
    CustomerInvitationOut,
    CustomerOut,
    GrantOut,
    MyPartnerOut,
)
from twotier.directory import passwords
from twotier.directory import service as directory
from twotier.directory.access import user_in_tenant
from twotier.directory.auth import CurrentPrincipal
from twotier.directory.principal import Principal
from twotier.directory.roles import DirectoryRole
from twotier.directory.schemas import PasswordResetOut, UserCreate, UserOut, UserUpdate
from twotier.invitations.schemas import SendIn, SendOut
from twotier.kit.clock import utcnow
from twotier.kit.deps import TransactionalRoute, get_session, get_settings
from twotier.kit.fastjson import json_response, page_response
from twotier.kit.idempotency import create_once
from twotier.kit.openapi import idempotency_key, problems
from twotier.kit.pagination import Page, PageParams, page_of, page_params

router = APIRouter(prefix="/api/v1", tags=["customers"], route_class=TransactionalRoute)


async def _invite(
    request: Request,
    data: CustomerInvitationCreate,
    provider_id: uuid.UUID | None,
    principal: CurrentPrincipal,
    session: AsyncSession,
    settings: Settings,
) -> JSONResponse:
    async def make() -> CustomerInvitationOut:
        return await service.create_customer_invitation(
            session, settings, principal, data, provider_id
        )

    return await create_once(
        session,
        request,
        scope=f"user:{principal.user_id}",
        body={"provider": str(provider_id), **data.model_dump(mode="json")},
        make=make,
    )


@router.post(
    "/indirect-providers/{provider_id}/customer-invitations",
    status_code=201,
    openapi_extra=idempotency_key(),
    response_model=CustomerInvitationOut,
    responses=problems(403, 404, 422),
    summary="Invite new customer: a relationship with you and your indirect provider",
)
async def invite_two_tier(
    provider_id: uuid.UUID,
    data: CustomerInvitationCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> JSONResponse:
    return await _invite(request, data, provider_id, principal, session, settings)


@router.post(
    "/customer-invitations",
    status_code=201,
    openapi_extra=idempotency_key(),
    response_model=CustomerInvitationOut,
    responses=problems(403, 422),
    summary="Request a reseller relationship (you only)",
)
async def invite_direct(
    data: CustomerInvitationCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> JSONResponse:
    return await _invite(request, data, None, principal, session, settings)


@router.get(
    "/customer-invitations",
    response_model=Page[CustomerInvitationOut],
    responses=problems(403),
    summary="The customer invitations I sent",
)
async def list_customer_invitations(
    principal: CurrentPrincipal,
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Page[CustomerInvitationOut]:
    items, cursor = await service.list_customer_invitations(session, settings, principal, params)
    return Page[CustomerInvitationOut](items=items, next_cursor=cursor)


@router.get(
    "/customer-invitations/{invitation_id}",
    response_model=CustomerInvitationOut,
    responses=problems(403, 404),
)
async def get_customer_invitation(
    invitation_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> CustomerInvitationOut:
    invitation = await service.access_customer_invitation(session, principal, invitation_id)
    return await service.customer_invitation_out(session, settings, invitation)


@router.post(
    "/customer-invitations/{invitation_id}/send",
    status_code=202,
    response_model=SendOut,
    responses=problems(403, 404, 409, 422),
    summary="Email the (possibly edited) draft; the body must keep the link",
)
async def send_customer_invitation(
    invitation_id: uuid.UUID,
    data: SendIn,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> SendOut:
    to, subject = await service.send_customer_invitation(
        session, settings, principal, invitation_id, data.subject, data.body
    )
    return SendOut(id=invitation_id, to=to, subject=subject, queued_at=utcnow())


@router.post(
    "/customer-invitations/{invitation_id}/revoke",
    response_model=CustomerInvitationOut,
    responses=problems(403, 404, 409),
    summary="Revoke a pending customer invitation; its link stops working",
)
async def revoke_customer_invitation(
    invitation_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> CustomerInvitationOut:
    return await service.revoke_customer_invitation(session, settings, principal, invitation_id)


@router.get(
    "/customers",
    response_model=Page[CustomerOut],
    responses=problems(403),
    summary="My customers",
    description="My active customers, oldest relationship first. With `q`, the customers "
    "whose name or domain starts with it, in the order of the name (a customer found by its "
    "domain alone, at its domain's place).",
)
async def list_customers(
    principal: CurrentPrincipal,
    q: str | None = Query(None, description="Case-insensitive prefix of name or domain"),
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Response:
    items, cursor = await queries.customer_dicts(session, principal, q, params)
    return page_response(items, cursor)


@router.get("/customers/{customer_id}", response_model=CustomerDetail, responses=problems(403, 404))
async def get_customer(
    customer_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> Response:
    return json_response(await service.customer_detail_dict(session, principal, customer_id))


@router.delete(
    "/customers/{customer_id}/relationship", status_code=204, responses=problems(403, 404)
)
async def end_relationship(
    customer_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    await service.end_relationship(session, settings, principal, customer_id)
    return Response(status_code=204)


@router.get(
    "/customers/{customer_id}/delegated-access",
    response_model=Page[GrantOut],
    responses=problems(403, 404),
    summary="What the customer granted me, until when",
)
async def delegated_access(
    customer_id: uuid.UUID,
    principal: CurrentPrincipal,
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[GrantOut]:
    grants = await service.delegated_access(session, principal, customer_id)
    items, cursor = page_of(grants, lambda g: (g.created_at.isoformat(), str(g.id)), params)
    return Page[GrantOut](items=items, next_cursor=cursor)


@router.get(
    "/my/partners",
    response_model=Page[MyPartnerOut],
    responses=problems(403),
    summary="Partners with a relationship and access in my tenant",
)
async def my_partners(
    principal: CurrentPrincipal,
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[MyPartnerOut]:
    items, cursor = await service.my_partners(session, principal, params)
    return Page[MyPartnerOut](items=items, next_cursor=cursor)


@router.delete(
    "/my/partners/{partner_account_id}",
    status_code=204,
    responses=problems(403, 404),
    summary="End a partner's relationship and access at once",
)
async def revoke_partner(
    partner_account_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    await service.revoke_partner(session, settings, principal, partner_account_id)
    return Response(status_code=204)


# The customer's users, on its behalf.

USER_ADMIN = DirectoryRole.user_admin
HELPDESK = DirectoryRole.helpdesk_admin


@router.get(
    "/customers/{customer_id}/users",
    response_model=Page[UserOut],
    responses=problems(403, 404),
)
async def list_customer_users(
    customer_id: uuid.UUID,
    principal: CurrentPrincipal,
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[UserOut]:
    delegation = await access.act_for_customer(session, principal, customer_id, HELPDESK)
    users, cursor = await directory.list_users(session, principal, params, delegation=delegation)
    return Page[UserOut](items=[UserOut.model_validate(u) for u in users], next_cursor=cursor)


@router.post(
    "/customers/{customer_id}/users",
    status_code=201,
    response_model=UserOut,
    responses=problems(403, 404, 409),
)
async def create_customer_user(
    customer_id: uuid.UUID,
    data: UserCreate,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> UserOut:
    delegation = await access.act_for_customer(session, principal, customer_id, USER_ADMIN)
    user = await directory.create_user(session, settings, principal, data, delegation=delegation)
    return UserOut.model_validate(user)


@router.patch(
    "/customers/{customer_id}/users/{user_id}",
    response_model=UserOut,
    responses=problems(403, 404, 409),
)
async def update_customer_user(
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
    data: UserUpdate,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> UserOut:
    delegation = await access.act_for_customer(session, principal, customer_id, USER_ADMIN)
    user = await directory.update_user(session, principal, user_id, data, delegation=delegation)
    return UserOut.model_validate(user)


@router.delete(
    "/customers/{customer_id}/users/{user_id}",
    status_code=204,
    responses=problems(403, 404, 409),
)
async def delete_customer_user(
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> Response:
    delegation = await access.act_for_customer(session, principal, customer_id, USER_ADMIN)
    await directory.delete_user(session, principal, user_id, delegation=delegation)
    return Response(status_code=204)


@router.post(
    "/customers/{customer_id}/users/{user_id}/password-reset",
    response_model=PasswordResetOut,
    responses=problems(403, 404),
    summary="Reset a customer user's password (temporary, shown once)",
)
async def reset_customer_password(
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> PasswordResetOut:
    delegation = await access.act_for_password_reset(session, principal, customer_id)
    await user_in_tenant(session, customer_id, user_id)
    temporary, expires_at = await passwords.reset_password(
        session, settings, principal, user_id, delegation=delegation
    )
    return PasswordResetOut(user_id=user_id, temporary_password=temporary, expires_at=expires_at)


# "View customers" on the Indirect resellers / Indirect providers pages: the customers both
# sides of a link share (documented with the channel's operations).
channel_router = APIRouter(prefix="/api/v1", tags=["channel"], route_class=TransactionalRoute)


async def _shared_customers(
    session: AsyncSession, principal: Principal, side: Side, other_id: uuid.UUID, params: PageParams
) -> Response:
    items, cursor = await queries.customer_dicts(
        session, principal, None, params, shared_with=(side, other_id)
    )
    if not items:  # none shared, or no link at all (404)?
        await channel.access_link(session, principal, side, other_id)
    return page_response(items, cursor)


@channel_router.get(
    "/indirect-resellers/{reseller_id}/customers",
    response_model=Page[CustomerOut],
    responses=problems(403, 404),
    summary="The customers both sides share",
)
async def indirect_resellers_customers(
    reseller_id: uuid.UUID,
    principal: CurrentPrincipal,
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Response:
    return await _shared_customers(session, principal, Side.provider, reseller_id, params)


@channel_router.get(
    "/indirect-providers/{provider_id}/customers",
    response_model=Page[CustomerOut],
    responses=problems(403, 404),
    summary="The customers both sides share",
)
async def indirect_providers_customers(
    provider_id: uuid.UUID,
    principal: CurrentPrincipal,
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Response:
    return await _shared_customers(session, principal, Side.reseller, provider_id, params)
