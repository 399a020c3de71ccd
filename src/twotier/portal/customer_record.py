"""The customer record: one page composing what a partner sees of and does for a customer —
the account, delegated access and users (``customers``), subscriptions, orders and licenses
(``commerce``) — with every form on it. Each section is built by its domain's views; every
change goes through the domains' services, as the API does."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.access import service as access
from twotier.commerce import service as commerce
from twotier.commerce import views as commerce_views
from twotier.commerce.schemas import OrderCreate
from twotier.config import Settings
from twotier.customers import service as customers
from twotier.customers import views as customer_views
from twotier.customers.schemas import MAX_DAYS
from twotier.directory import passwords
from twotier.directory import service as directory
from twotier.directory.access import user_in_tenant
from twotier.directory.principal import Principal
from twotier.directory.roles import DirectoryRole
from twotier.directory.schemas import UserCreate
from twotier.kit.deps import TransactionalRoute, get_session, get_settings
from twotier.kit.errors import AppError, Conflict, Forbidden, Invalid
from twotier.kit.i18n import _
from twotier.kit.idempotency import MAX_KEY_LENGTH, submit_form_once
from twotier.kit.passwords import PasswordTooWeak
from twotier.web.forms import field_errors, form_values, parse
from twotier.web.render import check_csrf, flashes, render, signed_in

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)

USER_ADMIN = DirectoryRole.user_admin
NOTICES = {
    "user_added": "The user was added to the customer's directory.",
    "user_removed": "The user was removed from the customer's directory.",
    "roles_dropped": "The roles were given back to the customer.",
    "extension_requested": "Extension requested. The customer's global admin decides.",
    "ordered": "The subscription was added.",
    "subscription_updated": "The subscription was changed.",
    "license_assigned": "The license was assigned.",
    "license_unassigned": "The license was unassigned.",
}


def _back(customer_id: uuid.UUID, notice: str, anchor: str = "") -> Response:
    """Back to the record after a change, saying what was done (``NOTICES``)."""
    return RedirectResponse(f"/customers/{customer_id}?notice={notice}{anchor}", status_code=303)


async def _page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    customer_id: uuid.UUID,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    user_error: str | None = None,
    temporary: tuple[str, str, datetime] | None = None,
    flashes: list[str] | None = None,
    users_cursor: str | None = None,
    commerce: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """The record as it is now, with what a refused form kept (its values, the error)."""
    own = await customer_views.record_section(
        session,
        principal,
        customer_id,
        form=form,
        errors=errors,
        error=error,
        user_error=user_error,
        temporary=temporary,
        users_cursor=users_cursor,
    )
    sold = await commerce_views.record_section(
        request, session, principal, own.customer, own.held_roles, own.users, users_cursor, commerce
    )
    return render(
        request,
        "customer_record.html",
        {**own.context, **sold, "flashes": flashes or []},
        principal=principal,
        section="customers",
        status_code=status_code,
    )


@router.get("/customers/{customer_id}")
async def record_page(
    request: Request,
    customer_id: uuid.UUID,
    users_cursor: str | None = Query(None),
    notice: str | None = Query(None),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    return await _page(
        request,
        session,
        principal,
        customer_id,
        users_cursor=users_cursor,
        flashes=flashes(notice, NOTICES),
    )


# The customer's directory, delegated access and the relationship.


@router.post("/customers/{customer_id}/users", dependencies=[Depends(check_csrf)])
async def add_user(
    request: Request,
    customer_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    delegation = await access.act_for_customer(session, principal, customer_id, USER_ADMIN)
    form = form_values(await request.form(), lists=("roles",))
    data, errors = parse(UserCreate, form)
    if data is None:
        return await _page(
            request, session, principal, customer_id, form=form, errors=errors, status_code=422
        )
    try:
        await directory.create_user(session, settings, principal, data, delegation=delegation)
    except (PasswordTooWeak, Conflict) as exc:
        field = "password" if isinstance(exc, PasswordTooWeak) else "email"
        return await _page(
            request,
            session,
            principal,
            customer_id,
            form=form,
            errors={field: exc.detail},
            status_code=exc.status,
        )
    except Forbidden as exc:
        return await _page(
            request, session, principal, customer_id, form=form, error=exc.detail, status_code=403
        )
    return _back(customer_id, "user_added")


@router.post(
    "/customers/{customer_id}/users/{user_id}/reset-password", dependencies=[Depends(check_csrf)]
)
async def reset_password(
    request: Request,
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    delegation = await access.act_for_password_reset(session, principal, customer_id)
    user = await user_in_tenant(session, customer_id, user_id)
    try:
        temporary, expires_at = await passwords.reset_password(
            session, settings, principal, user_id, delegation=delegation
        )
    except Forbidden as exc:
        return await _page(
            request, session, principal, customer_id, user_error=exc.detail, status_code=403
        )
    # Shown once, on this answer only: never stored, never in a URL.
    return await _page(
        request, session, principal, customer_id, temporary=(user.email, temporary, expires_at)
    )


@router.post("/customers/{customer_id}/users/{user_id}/remove", dependencies=[Depends(check_csrf)])
async def remove_user(
    request: Request,
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    delegation = await access.act_for_customer(session, principal, customer_id, USER_ADMIN)
    try:
        await directory.delete_user(session, principal, user_id, delegation=delegation)
    except (Forbidden, Conflict) as exc:
        return await _page(
            request, session, principal, customer_id, user_error=exc.detail, status_code=exc.status
        )
    return _back(customer_id, "user_removed")


@router.post("/customers/{customer_id}/end", dependencies=[Depends(check_csrf)])
async def end_relationship(
    customer_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    await customers.end_relationship(session, settings, principal, customer_id)
    return RedirectResponse("/customers?notice=ended", status_code=303)


@router.post(
    "/customers/{customer_id}/grants/{grant_id}/drop-roles", dependencies=[Depends(check_csrf)]
)
async def drop_roles(
    request: Request,
    customer_id: uuid.UUID,
    grant_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    form = await request.form()
    roles = [
        DirectoryRole(str(r)) for r in form.getlist("drop_roles") if r in DirectoryRole.__members__
    ]
    if not roles:
        return RedirectResponse(f"/customers/{customer_id}", status_code=303)
    await access.drop_roles(session, principal, customer_id, grant_id, roles)
    return _back(customer_id, "roles_dropped")


@router.post(
    "/customers/{customer_id}/grants/{grant_id}/extend", dependencies=[Depends(check_csrf)]
)
async def request_extension(
    request: Request,
    customer_id: uuid.UUID,
    grant_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    form = await request.form()
    raw = str(form.get("duration_days") or "")
    days = int(raw) if raw.isdigit() else 0
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(_("Enter a number of days from 1 to 730."), code="validation_error")
    await access.request_extension(session, settings, principal, customer_id, grant_id, days)
    return _back(customer_id, "extension_requested")


# Subscriptions, orders and licenses.


ORDER_FIELDS = {
    "line_items.offer_id": "offer_id",
    "line_items.quantity": "quantity",
    "line_items.partner_id_on_record": "partner_id_on_record",
}


@router.post("/customers/{customer_id}/orders", dependencies=[Depends(check_csrf)])
async def add_subscription(
    request: Request,
    customer_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    await customers.access_customer(session, principal, customer_id)
    commerce.require_ordering_provider(principal)
    form = form_values(await request.form())
    key = str(form.get("order_key", ""))
    order_form = {
        "offer_id": form.get("offer_id", ""),
        "quantity": form.get("quantity", ""),
        "partner_id_on_record": form.get("partner_id_on_record", ""),
    }

    async def again(status_code: int, **state: Any) -> Response:
        kept = {"order_form": order_form, "order_key": key} | state
        return await _page(
            request, session, principal, customer_id, commerce=kept, status_code=status_code
        )

    errors: dict[str, str] = {}
    data = None
    try:
        data = OrderCreate.model_validate(
            {"line_items": [order_form], "attestation_accepted": form.get("attestation") == "yes"}
        )
    except ValidationError as exc:
        for name, message in field_errors(exc).items():
            errors[ORDER_FIELDS.get(name, name)] = message
    if "offer_id" in errors:
        errors["offer_id"] = _("Choose an offer.")
    if "partner_id_on_record" in errors:
        errors["partner_id_on_record"] = _("Choose the reseller of record.")
    if "quantity" in errors and order_form["quantity"].strip():
        errors["quantity"] = _("Enter a whole number of at least 1.")
    if form.get("attestation") != "yes":
        errors["attestation"] = _("Tick the box to confirm the attestation.")
    if errors or data is None:
        return await again(422, order_errors=errors)
    if not key or len(key) > MAX_KEY_LENGTH:
        return await again(
            422, order_error=_("This form has expired. Reload the page and try again.")
        )
    submission = await submit_form_once(
        session,
        request,
        scope=f"portal-orders:{principal.partner_account_id}",
        key=key,
        body={"customer_id": str(customer_id), **data.model_dump(mode="json")},
        ttl_hours=settings.idempotency_ttl_hours,
    )
    if not submission.first and submission.same:  # submitted twice: one order, one answer
        return _back(customer_id, "ordered")
    if not submission.first:
        return await again(
            409,
            order_error=_(
                "This form was submitted already. Reload the page to add another subscription."
            ),
            order_key=uuid.uuid4().hex,
        )
    try:
        async with session.begin_nested():
            out = await commerce.create_order(session, principal, customer_id, data)
    except AppError as exc:
        if exc.status in (403, 404):
            raise
        return await again(exc.status, order_error=exc.detail)
    await submission.done(session, 303, {"order_id": str(out.id)})
    return _back(customer_id, "ordered")


@router.post(
    "/customers/{customer_id}/subscriptions/{subscription_id}",
    dependencies=[Depends(check_csrf)],
)
async def change_subscription(
    request: Request,
    customer_id: uuid.UUID,
    subscription_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    form = form_values(await request.form())
    try:
        async with session.begin_nested():
            patch = commerce_views.subscription_patch(form)
            await commerce.update_subscription(
                session,
                principal,
                customer_id,
                subscription_id,
                patch,
                str(form.get("etag") or "") or None,
            )
    except AppError as exc:
        if exc.status == 404:
            raise
        message = exc.detail
        if exc.status in (412, 428):
            message = _(
                "This subscription changed since you loaded the page, so nothing was changed. "
                "Here it is as it is now: check it and try again."
            )
        return await _page(
            request,
            session,
            principal,
            customer_id,
            commerce={"sub_error": message},
            status_code=exc.status,
        )
    return _back(customer_id, "subscription_updated")


@router.post("/customers/{customer_id}/licenses/{user_id}", dependencies=[Depends(check_csrf)])
async def change_licenses(
    request: Request,
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    form = form_values(await request.form())
    try:
        notice = await commerce_views.change_licenses_from_form(
            session, principal, customer_id, user_id, form
        )
    except AppError as exc:
        if exc.status == 404:
            raise
        return await _page(
            request,
            session,
            principal,
            customer_id,
            commerce={"license_error": exc.detail},
            status_code=exc.status,
        )
    return _back(customer_id, notice, "#licenses")
