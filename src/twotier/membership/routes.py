from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.directory.auth import require
from twotier.directory.principal import Permission, Principal
from twotier.kit.deps import TransactionalRoute, get_session
from twotier.kit.idempotency import create_once
from twotier.kit.openapi import idempotency_key, problems
from twotier.kit.pagination import Page, PageParams, page_params
from twotier.membership import service
from twotier.membership.models import MembershipAccount, MembershipOrganization
from twotier.membership.schemas import MembershipCreate, MembershipOut, OrganizationOut

router = APIRouter(
    prefix="/api/v1/operator/memberships", tags=["operator"], route_class=TransactionalRoute
)


def membership_out(account: MembershipAccount, orgs: list[MembershipOrganization]) -> MembershipOut:
    return MembershipOut(
        id=account.id,
        username=account.username,
        created_at=account.created_at,
        organizations=[OrganizationOut.model_validate(o) for o in orgs],
    )


@router.post(
    "",
    status_code=201,
    openapi_extra=idempotency_key(),
    response_model=MembershipOut,
    responses=problems(409, 422),
    summary="Add a membership account with its organization profiles (partner IDs)",
)
async def create_membership(
    data: MembershipCreate,
    request: Request,
    principal: Principal = require(Permission.operate_platform),
    session: AsyncSession = Depends(get_session),
) -> JSONResponse:
    async def make() -> MembershipOut:
        account = await service.create_membership(session, data, actor=principal)
        orgs = (await service.organizations_of(session, [account.id]))[account.id]
        return membership_out(account, orgs)

    return await create_once(
        session, request, scope=f"user:{principal.user_id}", body=data, make=make
    )


@router.get("", response_model=Page[MembershipOut], summary="Search the membership registry")
async def list_memberships(
    q: str | None = Query(None, description="Username prefix, legal-name prefix or partner ID"),
    principal: Principal = require(Permission.operate_platform),
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[MembershipOut]:
    accounts, cursor = await service.list_memberships(session, principal, q, params)
    orgs = await service.organizations_of(session, [a.id for a in accounts])
    return Page[MembershipOut](
        items=[membership_out(a, orgs[a.id]) for a in accounts], next_cursor=cursor
    )
