"""Portal pages of partners: the partner profile, and the official provider list."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.directory.auth import optional_principal
from twotier.directory.models import PROGRAM_LABELS, PartnerAccount, Program
from twotier.directory.principal import Permission, Principal
from twotier.kit.countries import country_names
from twotier.kit.deps import TransactionalRoute, get_session
from twotier.kit.pagination import PageParams, page_params
from twotier.partners import service
from twotier.partners.schemas import LegalProfile, SupportProfile
from twotier.web.forms import drop_blank, flatten, form_values, parse
from twotier.web.render import check_csrf, flashes, label_filter, render, signed_in

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
label_filter("program", PROGRAM_LABELS)

FLASHES = {
    "support_saved": "The customer-support details were saved.",
    "legal_saved": "The legal business profile was saved.",
    "program_added": "The program was added to your partner account.",
}


class SupportForm(BaseModel):
    support_profile: SupportProfile


class LegalForm(BaseModel):
    legal_profile: LegalProfile


async def _profile_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    *,
    support_form: dict[str, Any] | None = None,
    legal_form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    flashes: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    partner: PartnerAccount = await service.require_partner(session, principal)
    programs = sorted(principal.partner_programs)
    return render(
        request,
        "partner_profile.html",
        {
            "partner": partner,
            "programs": programs,
            "missing_programs": [p for p in tuple(Program) if p not in programs],
            "can_edit": principal.can(Permission.manage_partner_profile),
            "can_enroll": principal.can(Permission.enroll_partner),
            "support_form": support_form or flatten(partner.support_profile, "support_profile"),
            "legal_form": legal_form or flatten(partner.legal_profile, "legal_profile"),
            "errors": errors or {},
            "flashes": flashes or [],
            "countries": country_names(),
        },
        principal=principal,
        section="partner",
        status_code=status_code,
    )


@router.get("/partner/profile")
async def profile_page(
    request: Request,
    notice: str | None = Query(None),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    if not principal.is_partner:
        return render(
            request,
            "partner_none.html",
            {"can_enroll": principal.can(Permission.enroll_partner)},
            principal=principal,
            section="partner",
            status_code=404,
        )
    shown = flashes(notice, FLASHES)
    return await _profile_page(request, session, principal, flashes=shown)


@router.post("/partner/profile/support", dependencies=[Depends(check_csrf)])
async def save_support(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    form = form_values(await request.form())
    data, errors = parse(
        SupportForm, drop_blank(form, ("support_profile.phone", "support_profile.website"))
    )
    if data is None:
        return await _profile_page(
            request, session, principal, support_form=form, errors=errors, status_code=422
        )
    await service.update_support_profile(session, principal, data.support_profile)
    return RedirectResponse("/partner/profile?notice=support_saved", status_code=303)


@router.post("/partner/profile/legal", dependencies=[Depends(check_csrf)])
async def save_legal(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    form = form_values(await request.form())
    data, errors = parse(
        LegalForm,
        drop_blank(form, ("legal_profile.address.line2", "legal_profile.address.state")),
    )
    if data is None:
        return await _profile_page(
            request, session, principal, legal_form=form, errors=errors, status_code=422
        )
    await service.update_legal_profile(session, principal, data.legal_profile)
    return RedirectResponse("/partner/profile?notice=legal_saved", status_code=303)


@router.get("/providers")
async def providers_page(
    request: Request,
    country: str = Query(""),
    q: str = Query(""),
    params: PageParams = Depends(page_params),
    principal: Principal | None = Depends(optional_principal),
    session: AsyncSession = Depends(get_session),
) -> Response:
    """The official provider list: public, searchable by country or region and name."""
    countries = country_names()
    country = country.strip().upper()
    if country not in countries:
        country = ""
    q = q.strip()
    rows, next_cursor = await service.list_providers(session, country or None, q or None, params)
    more = None
    if next_cursor:
        more = "/providers?" + urlencode({"country": country, "q": q, "cursor": next_cursor})
    return render(
        request,
        "providers.html",
        {
            "providers": rows,
            "country": country,
            "q": q,
            "countries": countries,
            "next_page": more,
            "searched": bool(country or q),
        },
        principal=principal,
        section="providers",
    )
