from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.directory.auth import require
from twotier.directory.models import Tenant
from twotier.directory.principal import Permission, Principal
from twotier.directory.schemas import TenantDetail
from twotier.kit.deps import TransactionalRoute, get_session
from twotier.kit.pagination import Page, PageParams, page_params, paginate

router = APIRouter(prefix="/api/v1/operator", tags=["operator"], route_class=TransactionalRoute)


async def list_tenants(
    session: AsyncSession, q: str | None, params: PageParams
) -> tuple[list[Tenant], str | None]:
    stmt = select(Tenant)
    if q:
        prefix = q.strip().lower()
        stmt = stmt.where(
            (func.lower(Tenant.display_name).startswith(prefix, autoescape=True))
            | (Tenant.domain.startswith(prefix, autoescape=True))
        )
    return await paginate(session, stmt, keys=[Tenant.created_at, Tenant.id], params=params)


@router.get("/tenants", response_model=Page[TenantDetail], summary="Every tenant (operator)")
async def tenants(
    q: str | None = Query(None, description="Case-insensitive prefix of name or domain"),
    _principal: Principal = require(Permission.operate_platform),
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[TenantDetail]:
    rows, cursor = await list_tenants(session, q, params)
    return Page[TenantDetail](
        items=[TenantDetail.model_validate(t, from_attributes=True) for t in rows],
        next_cursor=cursor,
    )
