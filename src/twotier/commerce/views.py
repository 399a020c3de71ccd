"""Portal pages of commerce: the operator's catalog; on a customer's record, its
subscriptions (the provider orders and changes them) and licenses (a partner with a
license-admin grant assigns them); and the customer's own Subscriptions page.

Thin views: every change goes through ``commerce.catalog``, ``commerce.service`` or
``commerce.licenses``, exactly as the API does.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.access import service as access
from twotier.commerce import catalog, licenses, service
from twotier.commerce.schemas import (
    CountryOfferOut,
    LicenseUpdate,
    OfferCreate,
    ProductCreate,
    SubscriptionPatch,
)
from twotier.customers.schemas import CustomerOut
from twotier.directory import service as directory
from twotier.directory.models import Program, User
from twotier.directory.principal import Permission, Principal
from twotier.directory.roles import DirectoryRole
from twotier.kit.countries import country_names
from twotier.kit.deps import TransactionalRoute, get_session
from twotier.kit.errors import AppError, Forbidden, Invalid
from twotier.kit.i18n import _
from twotier.kit.pagination import PageParams, every_page
from twotier.web.forms import field_errors, form_values
from twotier.web.render import (
    check_csrf,
    flashes,
    render,
    require_operator_page,
    signed_in,
    translated,
)

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)

PAGE_SIZE = 50
ORDERS_SHOWN = 10
SKU_FIELDS = ("name", "unit")
PRICE_FIELDS = ("country", "currency", "unit_price")
BLANK_SKU_ROWS = 3
BLANK_PRICE_ROWS = 4
MAX_ROWS = 20

UNIT_LABELS = {
    "seat": "Seat",
    "user": "User",
    "device": "Device",
    "license": "License",
    "instance": "Instance",
    "gb": "GB",
}
CYCLE_LABELS = {"monthly": "Monthly", "annual": "Annual"}
TERM_LABELS = {"P1M": "1 month", "P1Y": "1 year"}
SUBSCRIPTION_STATUS_LABELS = {
    "active": "Active",
    "suspended": "Suspended",
    "cancelled": "Cancelled",
}
CATALOG_NOTICES = {
    "product_created": "The product was added.",
    "offer_created": "The offer was added.",
    "offer_retired": "The offer was retired: partners can no longer order it.",
}
LICENSE_NOTICES = {
    "license_assigned": "The license was assigned.",
    "license_unassigned": "The license was unassigned.",
}


# The operator's catalog.


@router.get("/operator/catalog")
async def catalog_page(
    request: Request,
    products_cursor: str | None = Query(None),
    offers_cursor: str | None = Query(None),
    notice: str | None = Query(None),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    require_operator_page(principal)
    products, products_next = await catalog.list_products(
        session, principal, PageParams(limit=PAGE_SIZE, cursor=products_cursor)
    )
    offers, offers_next = await catalog.list_offers(
        session, principal, PageParams(limit=PAGE_SIZE, cursor=offers_cursor)
    )
    return render(
        request,
        "catalog.html",
        {
            "products": products,
            "products_next": products_next,
            "offers": offers,
            "offers_next": offers_next,
            "unit_labels": translated(UNIT_LABELS),
            "cycle_labels": translated(CYCLE_LABELS),
            "term_labels": translated(TERM_LABELS),
            "flashes": flashes(notice, CATALOG_NOTICES),
        },
        principal=principal,
        section="op-catalog",
    )


def _rows(
    form: dict[str, Any], prefix: str, fields: tuple[str, ...], blank: int
) -> list[dict[str, str]]:
    """The repeated rows of a form (``<prefix>.<i>.<field>``), in order, up to the last one
    posted (at least ``blank`` rows)."""
    posted = [
        int(parts[1])
        for parts in (key.split(".") for key in form)
        if len(parts) == 3 and parts[0] == prefix and parts[1].isdigit() and parts[2] in fields
    ]
    count = min(max(posted, default=-1) + 1, MAX_ROWS)
    return [
        {name: str(form.get(f"{prefix}.{i}.{name}", "")).strip() for name in fields}
        for i in range(max(count, blank))
    ]


def _row_errors(
    exc: ValidationError, prefix: str, kept: list[int]
) -> tuple[dict[str, str], str | None]:
    """Per-field messages, list positions mapped back to the rows on the page; a message
    about the whole form (or the whole list) comes back on its own."""
    errors: dict[str, str] = {}
    general = None
    for name, message in field_errors(exc, indexed=True).items():
        parts = name.split(".") if name else []
        if parts and parts[0] == prefix:
            if len(parts) < 3 or not parts[1].isdigit():
                general = general or message
                continue
            parts[1] = str(kept[int(parts[1])])
        elif not parts:
            general = general or message
            continue
        errors[".".join(parts)] = message
    return errors, general


async def _product_form(
    request: Request,
    principal: Principal,
    *,
    form: dict[str, Any] | None = None,
    rows: list[dict[str, str]] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "catalog_product.html",
        {
            "form": form or {"name": "", "description": ""},
            "rows": rows or [dict.fromkeys(SKU_FIELDS, "") for _i in range(BLANK_SKU_ROWS)],
            "max_rows": MAX_ROWS,
            "errors": errors or {},
            "error": error,
            "unit_labels": translated(UNIT_LABELS),
        },
        principal=principal,
        section="op-catalog",
        status_code=status_code,
    )


@router.get("/operator/catalog/products/new")
async def new_product_page(request: Request, principal: Principal = Depends(signed_in)) -> Response:
    require_operator_page(principal)
    return await _product_form(request, principal)


@router.post("/operator/catalog/products", dependencies=[Depends(check_csrf)])
async def create_product(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    require_operator_page(principal)
    form = form_values(await request.form())
    rows = _rows(form, "skus", SKU_FIELDS, 1)
    fields = {"name": form.get("name", ""), "description": form.get("description", "")}
    if form.get("action") == "add_row":  # another empty row; nothing is saved
        if len(rows) < MAX_ROWS:
            rows.append(dict.fromkeys(SKU_FIELDS, ""))
        return await _product_form(request, principal, form=fields, rows=rows)
    # Rows without a name are ignored; the first stays, so an empty form says why.
    kept = [i for i, r in enumerate(rows) if r["name"]] or [0]
    try:
        data = ProductCreate.model_validate(
            fields
            | {"skus": [{"name": rows[i]["name"], "unit": rows[i]["unit"] or "seat"} for i in kept]}
        )
    except ValidationError as exc:
        errors, general = _row_errors(exc, "skus", kept)
        return await _product_form(
            request,
            principal,
            form=fields,
            rows=rows,
            errors=errors,
            error=general,
            status_code=422,
        )
    await catalog.create_product(session, principal, data)
    return RedirectResponse("/operator/catalog?notice=product_created", status_code=303)


async def _all_skus(session: AsyncSession, principal: Principal) -> dict[str, str]:
    """Every SKU for the offer form's list, "Product — SKU" by id (every page of products)."""
    products = await every_page(lambda page: catalog.list_products(session, principal, page))
    return {str(sku.id): f"{p.name} — {sku.name}" for p in products for sku in p.skus}


OFFER_DEFAULTS = {
    "sku_id": "",
    "name": "",
    "billing_cycle": "monthly",
    "term": "P1Y",
    "cancellation_window_days": "7",
    "min_quantity": "1",
    "max_quantity": "10000",
}
OFFER_NUMBERS = ("cancellation_window_days", "min_quantity", "max_quantity")


async def _offer_form(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    *,
    form: dict[str, Any] | None = None,
    rows: list[dict[str, str]] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "catalog_offer.html",
        {
            "form": form or dict(OFFER_DEFAULTS),
            "rows": rows or [dict.fromkeys(PRICE_FIELDS, "") for _i in range(BLANK_PRICE_ROWS)],
            "max_rows": MAX_ROWS,
            "errors": errors or {},
            "error": error,
            "skus": await _all_skus(session, principal),
            "cycle_labels": translated(CYCLE_LABELS),
            "term_labels": translated(TERM_LABELS),
            "countries": country_names(),
        },
        principal=principal,
        section="op-catalog",
        status_code=status_code,
    )


@router.post("/operator/catalog/offers/{offer_id}/retire", dependencies=[Depends(check_csrf)])
async def retire_offer(
    offer_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    require_operator_page(principal)
    await catalog.retire_offer(session, principal, offer_id)
    return RedirectResponse("/operator/catalog?notice=offer_retired", status_code=303)


@router.get("/operator/catalog/offers/new")
async def new_offer_page(
    request: Request,
    sku_id: str | None = Query(None),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    require_operator_page(principal)
    return await _offer_form(
        request, session, principal, form=OFFER_DEFAULTS | {"sku_id": sku_id or ""}
    )


def _offer_messages(errors: dict[str, str]) -> dict[str, str]:
    """Words for the fields whose validation messages are a library's."""
    out = dict(errors)
    if "sku_id" in out:
        out["sku_id"] = _("Choose a SKU.")
    for name in OFFER_NUMBERS:
        if name in out and out[name] != _("This field is required."):
            out[name] = _("Enter a whole number in the allowed range.")
    for name, message in errors.items():
        if name.endswith(".unit_price") and "decimal" in message.lower():
            out[name] = _("Enter an amount such as 12.50.")
    return out


@router.post("/operator/catalog/offers", dependencies=[Depends(check_csrf)])
async def create_offer(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    require_operator_page(principal)
    form = form_values(await request.form())
    rows = _rows(form, "prices", PRICE_FIELDS, 1)
    fields = {name: str(form.get(name, "")).strip() for name in OFFER_DEFAULTS}

    async def again(**kwargs: Any) -> Response:
        return await _offer_form(request, session, principal, form=fields, rows=rows, **kwargs)

    if form.get("action") == "add_row":
        if len(rows) < MAX_ROWS:
            rows.append(dict.fromkeys(PRICE_FIELDS, ""))
        return await again()
    kept = [i for i, r in enumerate(rows) if any(r.values())] or [0]
    try:
        data = OfferCreate.model_validate(
            fields | {"prices": [rows[i] for i in kept]}  # blank fields: "required"
        )
    except ValidationError as exc:
        errors, general = _row_errors(exc, "prices", kept)
        return await again(errors=_offer_messages(errors), error=general, status_code=422)
    try:
        await catalog.create_offer(session, principal, data)
    except Invalid as exc:
        return await again(errors={"sku_id": exc.detail}, status_code=exc.status)
    return RedirectResponse("/operator/catalog?notice=offer_created", status_code=303)


# A customer's record: subscriptions and licenses.


async def _country_offers(
    session: AsyncSession, principal: Principal, country: str
) -> list[CountryOfferOut]:
    return await every_page(
        lambda page: catalog.offers_for_country(session, principal, country, page)
    )


def _may_order(principal: Principal) -> bool:
    return principal.in_program(Program.indirect_provider) and principal.can(
        Permission.submit_orders
    )


async def record_section(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    customer: CustomerOut,
    held_roles: frozenset[str],
    users: list[User] | None,
    users_cursor: str | None,
    state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the customer record shows of commerce (``portal`` composes the page).
    ``held_roles`` are the roles the partner holds in the customer's tenant and ``users`` the
    page of users the record already loaded (None when the partner may not see them); the
    record has checked the relationship."""
    state = state or {}
    subs, subs_next = await service.list_subscriptions(
        session,
        principal,
        customer.id,
        PageParams(limit=PAGE_SIZE, cursor=request.query_params.get("subs_cursor")),
    )
    orders, orders_next = await service.list_orders(
        session,
        principal,
        customer.id,
        PageParams(limit=ORDERS_SHOWN, cursor=request.query_params.get("orders_cursor")),
        newest_first=True,
    )
    seats = await licenses.licenses(session, principal, customer.id)
    held = await licenses.assignments(session, principal, customer.id)
    may_order = _may_order(principal)
    offers: list[CountryOfferOut] = []
    resellers: list[Any] = []
    if may_order:
        offers = await _country_offers(session, principal, customer.country)
        resellers = await service.resellers_of_record(session, principal, customer.id)
    licenses_blocked = None
    try:
        acting = access.delegation_for(
            principal, customer.id, held_roles, DirectoryRole.license_admin
        )
        if users is None:
            users, _next = await directory.list_users(
                session, principal, PageParams(limit=50, cursor=users_cursor), delegation=acting
            )
    except Forbidden as exc:
        licenses_blocked = access.refusal_text(
            exc, DirectoryRole.license_admin, customer.company_name
        )
    return {
        "subscriptions": subs,
        "subs_next": subs_next,
        "orders": orders,
        "orders_next": orders_next,
        "seats": seats,
        "held": {uid: {a.sku_id for a in items} for uid, items in held.items()},
        "license_users": users or [],
        "licenses_blocked": licenses_blocked,
        "may_order": may_order,
        "changeable": {
            s.id
            for s in subs
            if may_order and s.indirect_provider.id == principal.partner_account_id
        },
        "in_window": {
            s.id for s in subs if service.in_cancellation_window(s.status, s.cancellable_until)
        },
        "offers": offers,
        "resellers": resellers,
        "order_form": state.get("order_form") or {"quantity": "1"},
        "order_errors": state.get("order_errors") or {},
        "order_error": state.get("order_error"),
        "order_key": state.get("order_key") or uuid.uuid4().hex,
        "sub_error": state.get("sub_error"),
        "license_error": state.get("license_error"),
        "sub_status_labels": translated(SUBSCRIPTION_STATUS_LABELS),
        "cycle_labels": translated(CYCLE_LABELS),
        "term_labels": translated(TERM_LABELS),
        "unit_labels": translated(UNIT_LABELS),
    }


def subscription_patch(form: dict[str, Any]) -> SubscriptionPatch:
    """The change a subscription form asks for."""
    action = form.get("action")
    try:
        if action == "quantity":
            return SubscriptionPatch.model_validate({"quantity": form.get("quantity")})
        if action in ("suspend", "reactivate", "cancel"):
            status = {"suspend": "suspended", "reactivate": "active", "cancel": "cancelled"}
            return SubscriptionPatch.model_validate({"status": status[action]})
        if action in ("auto_renew_on", "auto_renew_off"):
            return SubscriptionPatch(auto_renew=action == "auto_renew_on")
    except ValidationError as exc:
        raise Invalid(
            _("Enter a whole number of at least 1 as the quantity."), code="validation_error"
        ) from exc
    raise Invalid(_("Choose what to change."), code="validation_error")


def _license_update(form: dict[str, Any]) -> tuple[LicenseUpdate, str]:
    action = form.get("action")
    try:
        sku_id = uuid.UUID(str(form.get("sku_id", "")))
    except ValueError as exc:
        raise Invalid(_("Choose a license."), code="validation_error") from exc
    if action == "assign":
        return LicenseUpdate(add=[sku_id]), "license_assigned"
    if action == "unassign":
        return LicenseUpdate(remove=[sku_id]), "license_unassigned"
    raise Invalid(_("Choose assign or unassign."), code="validation_error")


async def change_licenses_from_form(
    session: AsyncSession,
    principal: Principal,
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
    form: dict[str, Any],
) -> str:
    """Assign or unassign; all or nothing (a refusal leaves no half-made assignment)."""
    async with session.begin_nested():
        data, notice = _license_update(form)
        await licenses.update_user_licenses(session, principal, customer_id, user_id, data)
    return notice


# The customer's own Subscriptions page.


async def _my_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    *,
    subs_cursor: str | None = None,
    users_cursor: str | None = None,
    license_error: str | None = None,
    flashes: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    customer_id = principal.tenant_id
    subs, subs_next = await service.list_subscriptions(
        session, principal, customer_id, PageParams(limit=PAGE_SIZE, cursor=subs_cursor)
    )
    seats = await licenses.licenses(session, principal, customer_id)
    held = await licenses.assignments(session, principal, customer_id)
    may_assign = principal.can(Permission.manage_licenses)
    users: list[User] = []
    users_next = None
    if may_assign:
        users, users_next = await directory.list_users(
            session, principal, PageParams(limit=PAGE_SIZE, cursor=users_cursor)
        )
    return render(
        request,
        "subscriptions.html",
        {
            "subscriptions": subs,
            "subs_next": subs_next,
            "seats": seats,
            "held": {uid: {a.sku_id for a in items} for uid, items in held.items()},
            "license_users": users,
            "users_next": users_next,
            "may_assign": may_assign,
            "license_error": license_error,
            "sub_status_labels": translated(SUBSCRIPTION_STATUS_LABELS),
            "cycle_labels": translated(CYCLE_LABELS),
            "term_labels": translated(TERM_LABELS),
            "flashes": flashes or [],
        },
        principal=principal,
        section="subscriptions",
        status_code=status_code,
    )


@router.get("/subscriptions")
async def my_subscriptions_page(
    request: Request,
    subs_cursor: str | None = Query(None),
    users_cursor: str | None = Query(None),
    notice: str | None = Query(None),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    return await _my_page(
        request,
        session,
        principal,
        subs_cursor=subs_cursor,
        users_cursor=users_cursor,
        flashes=flashes(notice, LICENSE_NOTICES),
    )


@router.post("/subscriptions/licenses/{user_id}", dependencies=[Depends(check_csrf)])
async def change_my_licenses(
    request: Request,
    user_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    form = form_values(await request.form())
    try:
        notice = await change_licenses_from_form(
            session, principal, principal.tenant_id, user_id, form
        )
    except AppError as exc:
        if exc.status == 404:
            raise
        return await _my_page(
            request, session, principal, license_error=exc.detail, status_code=exc.status
        )
    return RedirectResponse(f"/subscriptions?notice={notice}#licenses", status_code=303)
