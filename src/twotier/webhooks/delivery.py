"""Delivering webhooks from the outbox: one signed POST per attempt.

Per Standard Webhooks: ``webhook-id`` is the event's id (the same on every retry and
replay), ``webhook-timestamp`` is the attempt's time, ``webhook-signature`` carries one
``v1,<base64 HMAC-SHA256 of id.timestamp.body>`` per live secret. Only 2xx is success;
410 disables the endpoint at once; other failures are retried with exponential backoff and
jitter until the retry horizon (about three days), then the endpoint is disabled and its
owner emailed. No database transaction is open while the request is in flight.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from twotier.config import Settings
from twotier.events.models import Event
from twotier.kit.clock import utcnow
from twotier.kit.outbox import DeliveryContext, Retry, backoff_seconds, handler
from twotier.webhooks import fanout, service, signing, ssrf
from twotier.webhooks.models import (
    DeliveryStatus,
    DisabledReason,
    EndpointStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

log = logging.getLogger(__name__)
USER_AGENT = "twotier-webhooks/1"


def payload_of(event: Event) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "type": event.type,
        "timestamp": event.occurred_at.isoformat(),
        "resource": {
            "type": event.resource_type,
            "id": event.resource_id,
            "uri": event.resource_uri,
        },
        "actor": event.actor,
        "partner_id": event.partner_id,
        "on_behalf_of_customer_id": (
            str(event.on_behalf_of_customer_id) if event.on_behalf_of_customer_id else None
        ),
        "data": event.data,
    }


@dataclass(frozen=True)
class Outcome:
    status: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _pinned(target: ssrf.Target) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The URL with the checked address in place of the name; Host and SNI keep the name."""
    address = target.addresses[0]
    url = httpx.URL(target.url.geturl())
    host_header = url.netloc.decode("ascii")
    pinned = url.copy_with(host=str(address), port=target.port)
    extensions: dict[str, Any] = {}
    if url.scheme == "https" and target.addresses[0] != ssrf.literal(target.host):
        extensions["sni_hostname"] = target.host
    return pinned, {"Host": host_header}, extensions


async def post(
    settings: Settings, endpoint_url: str, headers: dict[str, str], body: bytes
) -> Outcome:
    started = time.perf_counter()

    def took() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        target = await ssrf.check(endpoint_url, settings)
    except ssrf.UrlRefused as exc:
        return Outcome(None, f"{exc.code}: {exc.detail}"[:500], took())
    url, host, extensions = _pinned(target)
    try:
        async with httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds, follow_redirects=False, trust_env=False
        ) as client:
            response = await client.post(
                url, content=body, headers=headers | host, extensions=extensions
            )
        return Outcome(response.status_code, None, took())
    except httpx.HTTPError as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__, took())


# Nothing writes these since events.emit writes the deliveries itself; kept so that those
# queued before the upgrade (or by a process not yet upgraded) are still delivered.
LEGACY_FANOUT = "webhook_fanout"


@handler(LEGACY_FANOUT)
async def deliver_fanout(payload: dict[str, Any], ctx: DeliveryContext) -> None:
    async with ctx.db.write_sessions() as session, session.begin():
        await service.fan_out_stored(session, uuid.UUID(payload["event_id"]))


@dataclass(frozen=True)
class _Prepared:
    url: str
    msg_id: str
    body: bytes
    secrets: list[str]


async def _prepare(ctx: DeliveryContext, delivery_id: uuid.UUID) -> _Prepared | None:
    """Read what to send; a delivery already finished, or to an endpoint gone or disabled,
    sends nothing (and the latter is marked skipped)."""
    async with ctx.db.write_sessions() as session, session.begin():
        delivery = await session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.pending:
            return None
        endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint is None or endpoint.status != EndpointStatus.active:
            delivery.status = DeliveryStatus.skipped
            delivery.finished_at = utcnow()
            return None
        event = await session.get_one(Event, delivery.event_id)
        body = json.dumps(payload_of(event), separators=(",", ":"), ensure_ascii=False)
        return _Prepared(
            endpoint.url,
            str(event.id),
            body.encode(),
            service.current_secrets(ctx.settings, endpoint),
        )


def _headers(prepared: _Prepared, at: datetime) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": prepared.msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signing.signature_header(
            prepared.secrets, prepared.msg_id, at, prepared.body.decode()
        ),
    }


@handler(fanout.DELIVERY)
async def deliver_webhook(payload: dict[str, Any], ctx: DeliveryContext) -> None:
    delivery_id = uuid.UUID(payload["delivery_id"])
    prepared = await _prepare(ctx, delivery_id)
    if prepared is None:
        return
    at = utcnow()
    outcome = await post(ctx.settings, prepared.url, _headers(prepared, at), prepared.body)
    retry_in: float | None = None
    async with ctx.db.write_sessions() as session, session.begin():
        delivery = await session.scalar(
            select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
        )
        if delivery is None or delivery.status != DeliveryStatus.pending:
            return
        session.add(
            WebhookAttempt(
                id=uuid.uuid4(),
                delivery_id=delivery.id,
                attempted_at=at,
                succeeded=outcome.ok,
                response_status=outcome.status,
                duration_ms=outcome.duration_ms,
                error=outcome.error,
            )
        )
        now = utcnow()
        delivery.attempts += 1
        delivery.first_attempt_at = delivery.first_attempt_at or at
        endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
        horizon = timedelta(seconds=ctx.settings.webhook_retry_horizon_seconds)
        if outcome.ok:
            delivery.status, delivery.finished_at, delivery.next_attempt_at = (
                DeliveryStatus.succeeded,
                now,
                None,
            )
        elif outcome.status == 410 or now - delivery.first_attempt_at >= horizon:
            delivery.status, delivery.finished_at, delivery.next_attempt_at = (
                DeliveryStatus.failed,
                now,
                None,
            )
            if endpoint is not None:
                reason = (
                    DisabledReason.gone
                    if outcome.status == 410
                    else DisabledReason.retries_exhausted
                )
                await service.disable_for_failure(session, ctx.settings, endpoint, reason)
        else:
            retry_in = backoff_seconds(
                delivery.attempts,
                ctx.settings.webhook_backoff_base_seconds,
                ctx.settings.webhook_backoff_cap_seconds,
            )
            delivery.next_attempt_at = now + timedelta(seconds=retry_in)
    if retry_in is not None:
        raise Retry(
            f"webhook answered {outcome.status}" if outcome.status else str(outcome.error),
            retry_in,
        )
