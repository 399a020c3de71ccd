from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.access import service as access
from twotier.access.models import DelegatedAccessGrant
from twotier.config import Settings
from twotier.customers.schemas import DropRolesIn, ExtensionRequestIn, GrantOut
from twotier.customers.service import grant_out
from twotier.directory.auth import CurrentPrincipal
from twotier.kit.deps import TransactionalRoute, get_session, get_settings
from twotier.kit.openapi import problems

router = APIRouter(prefix="/api/v1", tags=["customers"], route_class=TransactionalRoute)
RESPONSES: dict[int | str, dict[str, Any]] = problems(403, 404, 409, 422)


async def _out(session: AsyncSession, grant: DelegatedAccessGrant) -> GrantOut:
    return await grant_out(session, grant)


@router.post(
    "/customers/{customer_id}/delegated-access/{grant_id}/drop-roles",
    response_model=GrantOut,
    responses=RESPONSES,
    summary="Give back roles you no longer need",
)
async def drop_roles(
    customer_id: uuid.UUID,
    grant_id: uuid.UUID,
    data: DropRolesIn,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> GrantOut:
    grant = await access.drop_roles(session, principal, customer_id, grant_id, data.roles)
    return await _out(session, grant)


@router.post(
    "/customers/{customer_id}/delegated-access/{grant_id}/extension-request",
    response_model=GrantOut,
    responses=RESPONSES,
    summary="Ask the customer to extend this grant",
)
async def request_extension(
    customer_id: uuid.UUID,
    grant_id: uuid.UUID,
    data: ExtensionRequestIn,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> GrantOut:
    grant = await access.request_extension(
        session, settings, principal, customer_id, grant_id, data.duration_days
    )
    return await _out(session, grant)


@router.post(
    "/my/grants/{grant_id}/extension/approve",
    response_model=GrantOut,
    responses=RESPONSES,
    summary="Approve a partner's extension request",
)
async def approve_extension(
    grant_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> GrantOut:
    return await _out(
        session, await access.decide_extension(session, principal, grant_id, approve=True)
    )


@router.post(
    "/my/grants/{grant_id}/extension/decline",
    response_model=GrantOut,
    responses=RESPONSES,
    summary="Decline a partner's extension request",
)
async def decline_extension(
    grant_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> GrantOut:
    return await _out(
        session, await access.decide_extension(session, principal, grant_id, approve=False)
    )
