from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.directory import service as directory
from twotier.directory.auth import CurrentPrincipal
from twotier.directory.schemas import PartnerRolesIn
from twotier.kit.deps import TransactionalRoute, get_session
from twotier.kit.openapi import problems
from twotier.kit.pagination import Page, PageParams, page_params
from twotier.partners import service
from twotier.partners.schemas import (
    LegalProfile,
    PartnerOut,
    PartnerUserOut,
    ProviderOut,
    SupportProfile,
)

router = APIRouter(prefix="/api/v1", tags=["partners"], route_class=TransactionalRoute)


@router.get(
    "/partner", response_model=PartnerOut, responses=problems(404), summary="My partner account"
)
async def get_partner(
    principal: CurrentPrincipal, session: AsyncSession = Depends(get_session)
) -> PartnerOut:
    return await service.partner_out(session, await service.require_partner(session, principal))


@router.patch("/partner/support-profile", response_model=PartnerOut, responses=problems(403, 404))
async def update_support_profile(
    data: SupportProfile,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> PartnerOut:
    partner = await service.update_support_profile(session, principal, data)
    return await service.partner_out(session, partner)


@router.patch("/partner/legal-profile", response_model=PartnerOut, responses=problems(403, 404))
async def update_legal_profile(
    data: LegalProfile,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> PartnerOut:
    partner = await service.update_legal_profile(session, principal, data)
    return await service.partner_out(session, partner)


@router.get(
    "/partner/users",
    response_model=Page[PartnerUserOut],
    responses=problems(403, 404),
    summary="The partner's users with their partner roles",
)
async def list_partner_users(
    principal: CurrentPrincipal,
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[PartnerUserOut]:
    users, cursor = await service.list_partner_users(session, principal, params)
    return Page[PartnerUserOut](
        items=[PartnerUserOut.model_validate(u) for u in users], next_cursor=cursor
    )


@router.put(
    "/partner/users/{user_id}/roles",
    response_model=PartnerUserOut,
    responses=problems(403, 404),
    summary="Set a user's partner roles (admin agent, sales agent...)",
)
async def set_partner_roles(
    user_id: uuid.UUID,
    data: PartnerRolesIn,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> PartnerUserOut:
    user = await directory.set_partner_roles(session, principal, user_id, data)
    return PartnerUserOut.model_validate(user)


@router.get(
    "/providers", response_model=Page[ProviderOut], summary="The official provider list (public)"
)
async def list_providers(
    country: str | None = Query(None, description="ISO 3166-1 alpha-2"),
    q: str | None = Query(None, description="Case-insensitive prefix of the company name"),
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[ProviderOut]:
    rows, cursor = await service.list_providers(session, country, q, params)
    return Page[ProviderOut](
        items=[
            ProviderOut(
                id=p.id,
                partner_id=p.partner_id,
                company_name=p.company_name,
                country=p.country,
                support_profile=p.support_profile,
            )
            for p in rows
        ],
        next_cursor=cursor,
    )
