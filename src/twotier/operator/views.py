from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.directory.principal import Principal
from twotier.kit.deps import TransactionalRoute, get_session
from twotier.kit.pagination import PageParams, page_params
from twotier.operator.routes import list_tenants
from twotier.web.render import render, require_operator_page, signed_in

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)


@router.get("/operator/tenants")
async def tenants_page(
    request: Request,
    q: str | None = Query(None),
    params: PageParams = Depends(page_params),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    require_operator_page(principal)
    tenants, next_cursor = await list_tenants(session, q, params)
    return render(
        request,
        "operator_tenants.html",
        {"tenants": tenants, "next_cursor": next_cursor, "q": q},
        principal=principal,
        section="operator",
    )
