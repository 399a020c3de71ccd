"""The start page and the dashboard."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.directory import service
from twotier.directory.auth import optional_principal
from twotier.directory.principal import Principal
from twotier.directory.roles import ROLE_LABELS, DirectoryRole
from twotier.kit.countries import country_names
from twotier.kit.deps import TransactionalRoute, get_session
from twotier.portal.render import render, signed_in

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)


@router.get("/")
async def home(
    request: Request, principal: Principal | None = Depends(optional_principal)
) -> Response:
    if principal is not None:
        return RedirectResponse("/dashboard", status_code=303)
    return render(request, "home.html")


@router.get("/dashboard")
async def dashboard(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    tenant = await service.get_tenant(session, principal.tenant_id)
    roles = [
        ROLE_LABELS[DirectoryRole(r)]
        for r in sorted(principal.roles)
        if r in DirectoryRole.__members__
    ]
    return render(
        request,
        "dashboard.html",
        {
            "tenant": tenant,
            "country_name": country_names().get(tenant.country, tenant.country),
            "roles": roles,
        },
        principal=principal,
        section="dashboard",
    )
