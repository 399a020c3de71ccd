"""Portal pages of the membership registry, for the operator: search it, add accounts."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.directory.principal import Principal
from twotier.kit.countries import country_names
from twotier.kit.deps import TransactionalRoute, get_session
from twotier.kit.errors import Conflict, Invalid
from twotier.kit.i18n import _
from twotier.kit.pagination import PageParams, page_params
from twotier.kit.passwords import PasswordTooWeak
from twotier.membership import service
from twotier.membership.schemas import MAX_ORGANIZATIONS, MembershipCreate
from twotier.web.forms import field_errors, form_values
from twotier.web.render import check_csrf, render, require_operator_page, signed_in

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)

ORG_FIELDS = ("legal_name", "country", "partner_id")


def _rows(form: dict[str, Any]) -> list[dict[str, str]]:
    """The organization rows of the form (``organizations.<i>.<field>``), in order."""
    count = 0
    while any(f"organizations.{count}.{name}" in form for name in ORG_FIELDS):
        count += 1
    return [
        {name: str(form.get(f"organizations.{i}.{name}", "")).strip() for name in ORG_FIELDS}
        for i in range(max(count, 1))
    ]


async def _page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    *,
    q: str | None,
    params: PageParams,
    form: dict[str, Any] | None = None,
    rows: list[dict[str, str]] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    flashes: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    accounts, next_cursor = await service.list_memberships(session, principal, q, params)
    orgs = await service.organizations_of(session, [a.id for a in accounts])
    more = None
    if next_cursor:
        more = "/operator/memberships?" + urlencode({"q": q or "", "cursor": next_cursor})
    return render(
        request,
        "operator_memberships.html",
        {
            "accounts": [(a, orgs[a.id]) for a in accounts],
            "q": q or "",
            "next_page": more,
            "form": form or {},
            "rows": rows or [dict.fromkeys(ORG_FIELDS, "")],
            "max_rows": MAX_ORGANIZATIONS,
            "errors": errors or {},
            "error": error,
            "flashes": flashes or [],
            "countries": country_names(),
        },
        principal=principal,
        section="op-memberships",
        status_code=status_code,
    )


@router.get("/operator/memberships")
async def memberships_page(
    request: Request,
    q: str | None = Query(None),
    notice: str | None = Query(None),
    params: PageParams = Depends(page_params),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    require_operator_page(principal)
    flashes = [_("The membership account was created.")] if notice == "created" else []
    return await _page(request, session, principal, q=q, params=params, flashes=flashes)


@router.post("/operator/memberships", dependencies=[Depends(check_csrf)])
async def create_membership(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    require_operator_page(principal)
    form = form_values(await request.form())
    rows = _rows(form)
    fields = {"username": form.get("username", ""), "password": form.get("password", "")}
    first_page = PageParams(limit=50, cursor=None)

    async def again(**kwargs: Any) -> Response:
        return await _page(
            request, session, principal, q=None, params=first_page, form=fields, **kwargs
        )

    if form.get("action") == "add_row":  # another empty row; nothing is saved
        if len(rows) < MAX_ORGANIZATIONS:
            rows.append(dict.fromkeys(ORG_FIELDS, ""))
        return await again(rows=rows)
    # Rows left wholly empty are ignored; the first row stays, so an empty form says why.
    kept = [(i, r) for i, r in enumerate(rows) if any(r.values())] or [(0, rows[0])]
    try:
        data = MembershipCreate.model_validate(
            fields
            | {"organizations": [{**r, "partner_id": r["partner_id"] or None} for _i, r in kept]}
        )
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for name, message in field_errors(exc, indexed=True).items():
            parts = name.split(".")
            if parts[0] == "organizations" and len(parts) > 1 and parts[1].isdigit():
                parts[1] = str(kept[int(parts[1])][0])  # back to the row on the page
            errors[".".join(parts)] = message
        return await again(rows=rows, errors=errors, status_code=422)
    try:
        account = await service.create_membership(session, data, actor=principal)
    except PasswordTooWeak as exc:
        return await again(rows=rows, errors={"password": exc.detail}, status_code=exc.status)
    except Conflict as exc:
        errors = {"username": exc.detail} if exc.code == "username_taken" else {}
        return await again(
            rows=rows,
            errors=errors,
            error=None if errors else exc.detail,
            status_code=exc.status,
        )
    except Invalid as exc:
        return await again(rows=rows, error=exc.detail, status_code=exc.status)
    query = urlencode({"q": account.username, "notice": "created"})
    return RedirectResponse(f"/operator/memberships?{query}", status_code=303)
