"""Portal: the Webhooks page (register, secret shown once, deliveries, test, replay,
rotate, disable, delete)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory.principal import Principal
from twotier.events.catalog import CATALOG, EventSpec
from twotier.kit.deps import TransactionalRoute, get_session, get_settings
from twotier.kit.errors import AppError
from twotier.kit.i18n import _
from twotier.kit.pagination import PageParams, page_params
from twotier.web.forms import form_values, parse
from twotier.web.render import check_csrf, flashes, render, signed_in
from twotier.webhooks import service
from twotier.webhooks.models import WebhookEndpoint
from twotier.webhooks.schemas import WebhookCreate, WebhookUpdate

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)

FLASHES = {
    "test_sent": "A test message is on its way.",
    "replayed": "The delivery is queued to be sent again.",
    "disabled": "The webhook is disabled.",
    "enabled": "The webhook is enabled again.",
    "deleted": "The webhook was deleted.",
}


def _grouped() -> tuple[tuple[str, tuple[EventSpec, ...]], ...]:
    out: dict[str, list[EventSpec]] = {}
    for event in CATALOG:
        out.setdefault(event.group, []).append(event)
    return tuple((group, tuple(events)) for group, events in out.items())


# The catalog is constant: group it once.
GROUPS = _grouped()


async def _list_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    flashes: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    endpoints, cursor = await service.list_endpoints(session, principal, params)
    return render(
        request,
        "webhooks.html",
        {
            "endpoints": endpoints,
            "next_cursor": cursor,
            "groups": GROUPS,
            "form": form or {"url": "", "description": "", "events": []},
            "errors": errors or {},
            "error": error,
            "flashes": flashes or [],
        },
        principal=principal,
        section="webhooks",
        status_code=status_code,
    )


@router.get("/webhooks")
async def webhooks_page(
    request: Request,
    notice: str = Query(""),
    params: PageParams = Depends(page_params),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    shown = flashes(notice, FLASHES)
    return await _list_page(request, session, principal, params, flashes=shown)


@router.post("/webhooks", dependencies=[Depends(check_csrf)])
async def register_webhook(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    form = form_values(await request.form(), lists=("events",))
    data, errors = parse(
        WebhookCreate,
        {
            "url": form.get("url", ""),
            "events": form["events"],
            "description": form.get("description") or None,
        },
    )
    error: str | None = None
    if not form["events"]:
        errors.pop("events", None)
        error = _("Choose at least one event.")
    if data is not None:
        try:
            endpoint, secret = await service.create(session, settings, principal, data)
        except AppError as exc:
            error = exc.detail
        else:
            return await _detail_page(request, session, principal, endpoint, secret=secret)
    return await _list_page(
        request,
        session,
        principal,
        PageParams(limit=50, cursor=None),
        form=form,
        errors=errors,
        error=error,
        status_code=422,
    )


async def _detail_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    endpoint: WebhookEndpoint,
    *,
    secret: str | None = None,
    flashes: list[str] | None = None,
    params: PageParams | None = None,
) -> Response:
    """The endpoint's page; ``endpoint`` is one the caller may see (service.access_endpoint)."""
    deliveries, cursor = await service.endpoint_deliveries(
        session, endpoint, params or PageParams(limit=25, cursor=None)
    )
    return render(
        request,
        "webhook.html",
        {
            "endpoint": endpoint,
            "deliveries": deliveries,
            "next_cursor": cursor,
            "secret": secret,
            "flashes": flashes or [],
        },
        principal=principal,
        section="webhooks",
    )


@router.get("/webhooks/{webhook_id}")
async def webhook_page(
    request: Request,
    webhook_id: uuid.UUID,
    notice: str = Query(""),
    cursor: str | None = Query(None),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    shown = flashes(notice, FLASHES)
    return await _detail_page(
        request,
        session,
        principal,
        await service.access_endpoint(session, principal, webhook_id),
        flashes=shown,
        params=PageParams(limit=25, cursor=cursor),
    )


def _back(webhook_id: uuid.UUID, notice: str) -> RedirectResponse:
    return RedirectResponse(f"/webhooks/{webhook_id}?notice={notice}", status_code=303)


@router.post("/webhooks/{webhook_id}/test", dependencies=[Depends(check_csrf)])
async def send_test(
    webhook_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    await service.send_test(session, principal, webhook_id)
    return _back(webhook_id, "test_sent")


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/replay", dependencies=[Depends(check_csrf)]
)
async def replay(
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    await service.replay(session, principal, webhook_id, delivery_id)
    return _back(webhook_id, "replayed")


@router.post("/webhooks/{webhook_id}/rotate-secret", dependencies=[Depends(check_csrf)])
async def rotate(
    request: Request,
    webhook_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    endpoint, secret = await service.rotate_secret(session, settings, principal, webhook_id)
    return await _detail_page(request, session, principal, endpoint, secret=secret)


@router.post("/webhooks/{webhook_id}/status", dependencies=[Depends(check_csrf)])
async def set_status(
    request: Request,
    webhook_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    enable = (await request.form()).get("enabled") == "true"
    await service.update(session, settings, principal, webhook_id, WebhookUpdate(enabled=enable))
    return _back(webhook_id, "enabled" if enable else "disabled")


@router.post("/webhooks/{webhook_id}/delete", dependencies=[Depends(check_csrf)])
async def delete(
    webhook_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    await service.delete(session, principal, webhook_id)
    return RedirectResponse("/webhooks?notice=deleted", status_code=303)
