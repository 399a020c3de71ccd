"""The start page and the dashboard."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.directory import service
from twotier.directory.auth import optional_principal
from twotier.directory.models import Program
from twotier.directory.principal import PARTNER_ROLE_LABELS, PartnerRole, Permission, Principal
from twotier.directory.roles import ROLE_LABELS, DirectoryRole
from twotier.enrollment import service as enrollment
from twotier.enrollment.models import OPEN_ENROLLMENT, EnrollmentStatus
from twotier.kit.countries import country_names
from twotier.kit.deps import TransactionalRoute, get_session
from twotier.kit.errors import NotFound
from twotier.partners import service as partners
from twotier.web.render import render, signed_in

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
    partner_roles = [
        PARTNER_ROLE_LABELS[PartnerRole(r)]
        for r in sorted(principal.partner_roles)
        if r in PartnerRole.__members__
    ]
    partner = None
    if principal.is_partner:
        partner = await partners.partner_of_tenant(session, principal.tenant_id)
    latest = None
    if not principal.is_operator:
        try:
            latest = await enrollment.current(session, principal)
        except NotFound:
            latest = None
    # The enrollment worth showing: one still open, or a refusal not yet followed by approval.
    shown = None
    if latest is not None and (
        latest.status in OPEN_ENROLLMENT
        or (latest.status == EnrollmentStatus.rejected and partner is None)
    ):
        shown = latest
    return render(
        request,
        "dashboard.html",
        {
            "tenant": tenant,
            "country_name": country_names().get(tenant.country, tenant.country),
            "roles": roles,
            "partner_roles": partner_roles,
            "partner": partner,
            "programs": sorted(principal.partner_programs),
            "missing_programs": [p for p in tuple(Program) if p not in principal.partner_programs],
            "enrollment": shown,
            "can_enroll": principal.can(Permission.enroll_partner),
        },
        principal=principal,
        section="dashboard",
    )
