"""Webhooks API: register, list, update, delete, rotate the secret, test, deliveries, replay."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory.auth import CurrentPrincipal
from twotier.events.catalog import CATALOG, TEST_EVENT
from twotier.kit.deps import TransactionalRoute, get_session, get_settings
from twotier.kit.idempotency import create_once
from twotier.kit.openapi import idempotency_key, problems
from twotier.kit.pagination import Page, PageParams, page_of, page_params
from twotier.webhooks import service, signing
from twotier.webhooks.models import WebhookEndpoint
from twotier.webhooks.schemas import (
    DeliveryOut,
    EventTypeOut,
    WebhookCreate,
    WebhookOut,
    WebhookSecretOut,
    WebhookUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["webhooks"], route_class=TransactionalRoute)

BY_ID: dict[int | str, dict[str, Any]] = problems(403, 404)


def webhook_out(endpoint: WebhookEndpoint) -> WebhookOut:
    return WebhookOut.model_validate(endpoint, from_attributes=True)


def with_secret(endpoint: WebhookEndpoint, secret: str) -> WebhookSecretOut:
    return WebhookSecretOut(**webhook_out(endpoint).model_dump(), secret=secret)


@router.get(
    "/webhook-events",
    response_model=Page[EventTypeOut],
    summary="The event catalog: every type a webhook may subscribe to",
)
async def event_catalog(params: PageParams = Depends(page_params)) -> Page[EventTypeOut]:
    catalog = [
        EventTypeOut(
            type=e.type,
            group=e.group,
            resource_type=e.resource_type,
            description=e.description,
            audience=e.audience,
            subscribable=e is not TEST_EVENT,
        )
        for e in (*CATALOG, TEST_EVENT)
    ]
    items, cursor = page_of(catalog, lambda e: (e.group, e.type), params)
    return Page[EventTypeOut](items=items, next_cursor=cursor)


@router.post(
    "/webhooks",
    status_code=201,
    openapi_extra=idempotency_key(),
    response_model=WebhookSecretOut,
    responses=problems(403, 422),
    summary="Register a webhook; the answer shows its signing secret, once",
)
async def create_webhook(
    data: WebhookCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> JSONResponse:
    async def make() -> WebhookOut:
        endpoint, _secret = await service.create(session, settings, principal, data)
        return webhook_out(endpoint)

    # The stored answer leaves the secret out (the idempotency table must not hold it); it
    # is derived again for the answer, so a retried request gets it as the first did.
    response = await create_once(
        session, request, scope=f"user:{principal.user_id}:webhooks", body=data, make=make
    )
    if response.status_code != 201:
        return response
    endpoint = await service.access_endpoint(
        session, principal, uuid.UUID(json.loads(bytes(response.body))["id"])
    )
    out = with_secret(endpoint, signing.secret_for(settings, endpoint.secret_nonce))
    headers = {k: v for k, v in response.headers.items() if k.lower() == "idempotent-replayed"}
    return JSONResponse(out.model_dump(mode="json"), status_code=201, headers=headers)


@router.get("/webhooks", response_model=Page[WebhookOut], responses=problems(403))
async def list_webhooks(
    principal: CurrentPrincipal,
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[WebhookOut]:
    rows, cursor = await service.list_endpoints(session, principal, params)
    return Page[WebhookOut](items=[webhook_out(e) for e in rows], next_cursor=cursor)


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut, responses=BY_ID)
async def get_webhook(
    webhook_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> WebhookOut:
    return webhook_out(await service.access_endpoint(session, principal, webhook_id))


@router.patch(
    "/webhooks/{webhook_id}",
    response_model=WebhookOut,
    responses=BY_ID | problems(422),
    summary="Change the URL, the events or the description; disable or enable",
)
async def update_webhook(
    webhook_id: uuid.UUID,
    data: WebhookUpdate,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> WebhookOut:
    return webhook_out(await service.update(session, settings, principal, webhook_id, data))


@router.delete("/webhooks/{webhook_id}", status_code=204, responses=BY_ID)
async def delete_webhook(
    webhook_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> Response:
    await service.delete(session, principal, webhook_id)
    return Response(status_code=204)


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    response_model=WebhookSecretOut,
    responses=BY_ID,
    summary="A new secret, shown once; the old one keeps signing during the grace period",
)
async def rotate_secret(
    webhook_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> WebhookSecretOut:
    endpoint, secret = await service.rotate_secret(session, settings, principal, webhook_id)
    return with_secret(endpoint, secret)


@router.post(
    "/webhooks/{webhook_id}/test",
    status_code=202,
    response_model=DeliveryOut,
    responses=BY_ID | problems(409),
    summary="Send a webhook_test event to this endpoint",
)
async def send_test_message(
    webhook_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> DeliveryOut:
    delivery = await service.send_test(session, principal, webhook_id)
    return service.delivery_out(delivery)  # just made: no attempts yet


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=Page[DeliveryOut],
    responses=BY_ID,
    summary="Deliveries, newest first, each with its attempts",
)
async def list_deliveries(
    webhook_id: uuid.UUID,
    principal: CurrentPrincipal,
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[DeliveryOut]:
    rows, cursor = await service.list_deliveries(session, principal, webhook_id, params)
    return Page[DeliveryOut](items=rows, next_cursor=cursor)


@router.get(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}",
    response_model=DeliveryOut,
    responses=BY_ID,
)
async def get_delivery(
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> DeliveryOut:
    return await service.get_delivery(session, principal, webhook_id, delivery_id)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=DeliveryOut,
    responses=BY_ID | problems(409),
    summary="Send a delivery's event again (same webhook-id)",
)
async def replay_delivery(
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> DeliveryOut:
    delivery = await service.replay(session, principal, webhook_id, delivery_id)
    return service.delivery_out(delivery)  # just made: no attempts yet
