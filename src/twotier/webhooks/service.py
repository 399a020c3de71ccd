"""Webhook endpoints: a tenant's global admin or a partner's admin agent registers URLs for
the events it wants; each event of its audience is delivered through the outbox, signed
(``events.emit`` writes the deliveries, see ``fanout``).

An endpoint belongs to one tenant; another tenant's endpoint id is 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory.models import User
from twotier.directory.principal import Permission, Principal
from twotier.directory.roles import DirectoryRole
from twotier.events import service as events
from twotier.events.catalog import SUBSCRIBABLE, TEST_EVENT
from twotier.events.models import Event
from twotier.kit.clock import utcnow
from twotier.kit.email import queue_email
from twotier.kit.errors import Conflict, Forbidden, Invalid, NotFound
from twotier.kit.i18n import _
from twotier.kit.pagination import PageParams, paginate
from twotier.kit.security import new_token
from twotier.webhooks import fanout, signing, ssrf
from twotier.webhooks.models import (
    DeliveryKind,
    DeliveryStatus,
    DisabledReason,
    EndpointStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from twotier.webhooks.schemas import AttemptOut, DeliveryOut, WebhookCreate, WebhookUpdate


def require_manager(principal: Principal) -> None:
    if not principal.can(Permission.manage_webhooks):
        raise Forbidden(
            "Only the tenant's global admin or a partner's admin agents manage webhooks.",
            code="insufficient_role",
        )


def _check_events(types: Sequence[str]) -> list[str]:
    unknown = sorted(set(types) - SUBSCRIBABLE)
    if unknown:
        raise Invalid(
            f"Unknown event type(s): {', '.join(unknown)}. See GET /api/v1/webhook-events.",
            code="unknown_event_type",
            extra={"unknown": unknown},
        )
    return sorted(set(types))


async def access_endpoint(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, *, lock: bool = False
) -> WebhookEndpoint:
    """The caller's tenant's endpoint; anything else is 404."""
    require_manager(principal)
    stmt = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.tenant_id == principal.tenant_id
    )
    if lock:
        # Locked, the row is read afresh even if this session already holds it.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    endpoint = await session.scalar(stmt)
    if endpoint is None:
        raise NotFound("No such webhook.", code="webhook_not_found")
    return endpoint


def current_secrets(settings: Settings, endpoint: WebhookEndpoint) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during its grace."""
    out = [signing.secret_for(settings, endpoint.secret_nonce)]
    if (
        endpoint.previous_secret_nonce
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > utcnow()
    ):
        out.append(signing.secret_for(settings, endpoint.previous_secret_nonce))
    return out


async def create(
    session: AsyncSession, settings: Settings, principal: Principal, data: WebhookCreate
) -> tuple[WebhookEndpoint, str]:
    require_manager(principal)
    types = _check_events(data.events)
    await ssrf.check(data.url, settings)
    endpoint = WebhookEndpoint(
        id=uuid.uuid4(),
        tenant_id=principal.tenant_id,
        url=data.url.strip(),
        description=data.description or None,
        events=types,
        status=EndpointStatus.active,
        secret_nonce=new_token(),
        created_by_user_id=principal.user_id,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(endpoint)
    await session.flush()
    await events.announce(
        session,
        principal,
        "webhook_created",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
        detail={"url": endpoint.url, "events": types},
    )
    return endpoint, signing.secret_for(settings, endpoint.secret_nonce)


async def list_endpoints(
    session: AsyncSession, principal: Principal, params: PageParams
) -> tuple[list[WebhookEndpoint], str | None]:
    require_manager(principal)
    return await paginate(
        session,
        select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == principal.tenant_id),
        keys=[WebhookEndpoint.created_at, WebhookEndpoint.id],
        params=params,
    )


async def update(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    endpoint_id: uuid.UUID,
    data: WebhookUpdate,
) -> WebhookEndpoint:
    if data.url is not None:
        # Resolving a name can be slow: vet a new URL before taking the row lock.
        current = await access_endpoint(session, principal, endpoint_id)
        if data.url.strip() != current.url:
            await ssrf.check(data.url, settings)
    endpoint = await access_endpoint(session, principal, endpoint_id, lock=True)
    changes: dict[str, object] = {}
    if data.url is not None and data.url.strip() != endpoint.url:
        changes["url"] = endpoint.url = data.url.strip()
    if data.events is not None:
        types = _check_events(data.events)
        if types != endpoint.events:
            changes["events"] = endpoint.events = types
    if "description" in data.model_fields_set and data.description != endpoint.description:
        changes["description"] = endpoint.description = data.description or None
    if data.enabled is not None:
        active = endpoint.status == EndpointStatus.active
        if data.enabled and not active:
            endpoint.status, endpoint.disabled_reason, endpoint.disabled_at = (
                EndpointStatus.active,
                None,
                None,
            )
            changes["status"] = EndpointStatus.active
        elif not data.enabled and active:
            _disable(endpoint, DisabledReason.by_user)
            changes["status"] = EndpointStatus.disabled
    if changes:
        endpoint.updated_at = utcnow()
        await session.flush()
        await events.announce(
            session,
            principal,
            "webhook_updated",
            resource_type="webhook_endpoint",
            resource_id=endpoint.id,
            detail={"changes": changes},
        )
    return endpoint


async def delete(session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID) -> None:
    endpoint = await access_endpoint(session, principal, endpoint_id, lock=True)
    await events.announce(
        session,
        principal,
        "webhook_deleted",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
        detail={"url": endpoint.url},
    )
    await session.delete(endpoint)
    await session.flush()


async def rotate_secret(
    session: AsyncSession, settings: Settings, principal: Principal, endpoint_id: uuid.UUID
) -> tuple[WebhookEndpoint, str]:
    """A new secret at once; the old one keeps signing alongside for the grace period."""
    endpoint = await access_endpoint(session, principal, endpoint_id, lock=True)
    now = utcnow()
    endpoint.previous_secret_nonce = endpoint.secret_nonce
    endpoint.previous_secret_expires_at = now + timedelta(
        seconds=settings.webhook_secret_grace_seconds
    )
    endpoint.secret_nonce = new_token()
    endpoint.updated_at = now
    await session.flush()
    await events.announce(
        session,
        principal,
        "webhook_secret_rotated",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
        detail={"previous_secret_expires_at": endpoint.previous_secret_expires_at.isoformat()},
    )
    return endpoint, signing.secret_for(settings, endpoint.secret_nonce)


def _require_active(endpoint: WebhookEndpoint) -> None:
    if endpoint.status != EndpointStatus.active:
        raise Conflict("The webhook is disabled; enable it first.", code="webhook_disabled")


async def send_test(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> WebhookDelivery:
    endpoint = await access_endpoint(session, principal, endpoint_id)
    _require_active(endpoint)
    event = await events.emit(
        session,
        TEST_EVENT.type,
        resource_type=TEST_EVENT.resource_type,
        resource_id=endpoint.id,
        resource_uri=f"/api/v1/webhooks/{endpoint.id}",
        actor=principal,
        audience=[principal.tenant_id],
        data={"message": "This is a test message from twotier."},
        fan_out=False,
    )
    await session.flush()
    delivery = fanout.new_delivery(session, endpoint.id, event, kind=DeliveryKind.test)
    await session.flush()
    await events.announce(
        session,
        principal,
        "webhook_test_sent",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
        detail={"delivery_id": str(delivery.id)},
    )
    return delivery


async def replay(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Send a delivery's event again (same webhook-id, so receivers can tell)."""
    endpoint = await access_endpoint(session, principal, endpoint_id)
    original = await _delivery_of(session, endpoint, delivery_id)
    _require_active(endpoint)
    event = await session.get_one(Event, original.event_id)
    delivery = fanout.new_delivery(
        session, endpoint.id, event, kind=DeliveryKind.replay, replay_of=original.id
    )
    await session.flush()
    await events.announce(
        session,
        principal,
        "webhook_delivery_replayed",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
        detail={"delivery_id": str(delivery.id), "replay_of": str(original.id)},
    )
    return delivery


async def _delivery_of(
    session: AsyncSession, endpoint: WebhookEndpoint, delivery_id: uuid.UUID
) -> WebhookDelivery:
    delivery = await session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id
        )
    )
    if delivery is None:
        raise NotFound("No such delivery.", code="delivery_not_found")
    return delivery


async def deliveries_out(
    session: AsyncSession, deliveries: Sequence[WebhookDelivery]
) -> list[DeliveryOut]:
    """Deliveries with their attempts: one query for all the attempts of the page."""
    ids = [d.id for d in deliveries]
    attempts: dict[uuid.UUID, list[AttemptOut]] = {i: [] for i in ids}
    if ids:
        rows = await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(ids))
            .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id)
        )
        for a in rows:
            attempts[a.delivery_id].append(
                AttemptOut(
                    id=a.id,
                    attempted_at=a.attempted_at,
                    status="succeeded" if a.succeeded else "failed",
                    response_status=a.response_status,
                    duration_ms=a.duration_ms,
                    error=a.error,
                )
            )
    return [delivery_out(d, attempts[d.id]) for d in deliveries]


def delivery_out(d: WebhookDelivery, attempts: list[AttemptOut] | None = None) -> DeliveryOut:
    """One delivery with the attempts given; none for one just made (a test or a replay)."""
    return DeliveryOut(
        id=d.id,
        webhook_id=d.endpoint_id,
        event_id=d.event_id,
        event_type=d.event_type,
        kind=d.kind,
        replay_of=d.replay_of_id,
        status=d.status,
        created_at=d.created_at,
        next_attempt_at=d.next_attempt_at if d.status == DeliveryStatus.pending else None,
        finished_at=d.finished_at,
        attempts=attempts or [],
    )


async def list_deliveries(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, params: PageParams
) -> tuple[list[DeliveryOut], str | None]:
    """Newest first."""
    endpoint = await access_endpoint(session, principal, endpoint_id)
    return await endpoint_deliveries(session, endpoint, params)


async def endpoint_deliveries(
    session: AsyncSession, endpoint: WebhookEndpoint, params: PageParams
) -> tuple[list[DeliveryOut], str | None]:
    """Newest first, of an endpoint the caller may already see (``access_endpoint``)."""
    rows, cursor = await paginate(
        session,
        select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id),
        keys=[WebhookDelivery.created_at, WebhookDelivery.id],
        params=params,
        descending=True,
    )
    return await deliveries_out(session, rows), cursor


async def get_delivery(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryOut:
    endpoint = await access_endpoint(session, principal, endpoint_id)
    return (await deliveries_out(session, [await _delivery_of(session, endpoint, delivery_id)]))[0]


# Fan-out of stored events and giving up (called by the outbox handlers).


async def fan_out_stored(session: AsyncSession, event_id: uuid.UUID) -> int:
    """The event deliveries a stored event lacks (for fan-out messages queued before
    ``events.emit`` wrote them itself); a repeated call adds nothing."""
    event = await session.get(Event, event_id)
    if event is None or not event.audience:
        return 0
    wanted = await fanout.subscribed(session, event.type, [uuid.UUID(t) for t in event.audience])
    if not wanted:
        return 0
    done = set(
        (
            await session.scalars(
                select(WebhookDelivery.endpoint_id).where(
                    WebhookDelivery.event_id == event.id,
                    WebhookDelivery.kind == DeliveryKind.event,
                )
            )
        ).all()
    )
    missing = [endpoint_id for endpoint_id in wanted if endpoint_id not in done]
    for endpoint_id in missing:
        fanout.new_delivery(session, endpoint_id, event, kind=DeliveryKind.event)
    await session.flush()
    return len(missing)


def _disable(endpoint: WebhookEndpoint, reason: DisabledReason) -> None:
    endpoint.status = EndpointStatus.disabled
    endpoint.disabled_reason = reason
    endpoint.disabled_at = utcnow()
    endpoint.updated_at = utcnow()


async def disable_for_failure(
    session: AsyncSession, settings: Settings, endpoint: WebhookEndpoint, reason: DisabledReason
) -> None:
    """Turn the endpoint off, tell its owner by email, and audit it (the system's act)."""
    if endpoint.status != EndpointStatus.active:
        return
    _disable(endpoint, reason)
    await session.flush()
    why = (
        _("it answered 410 Gone")
        if reason == DisabledReason.gone
        else _("deliveries kept failing for %(days)s days")
        % {"days": round(settings.webhook_retry_horizon_seconds / 86400, 1)}
    )
    for to in await _owners(session, endpoint):
        queue_email(
            session,
            settings,
            to=to.email,
            subject=_("Your webhook %(url)s was disabled") % {"url": endpoint.url},
            body=_(
                "Hello %(name)s,\n\ntwotier stopped sending events to %(url)s because "
                "%(why)s. Fix the receiver, then enable the webhook again and replay what it "
                "missed: %(base)s/webhooks/%(id)s\n"
            )
            % {
                "name": to.display_name,
                "url": endpoint.url,
                "why": why,
                "base": settings.base_url,
                "id": endpoint.id,
            },
        )
    await events.announce(
        session,
        None,
        "webhook_disabled",
        resource_type="webhook_endpoint",
        resource_id=endpoint.id,
        subject_tenant_id=endpoint.tenant_id,
        detail={"reason": reason, "url": endpoint.url},
    )


async def _owners(session: AsyncSession, endpoint: WebhookEndpoint) -> list[User]:
    """Who registered it, while still active; otherwise the tenant's global admins."""
    if endpoint.created_by_user_id is not None:
        creator = await session.scalar(
            select(User).where(
                User.id == endpoint.created_by_user_id,
                User.tenant_id == endpoint.tenant_id,
                User.is_active.is_(True),
            )
        )
        if creator is not None:
            return [creator]
    users = await session.scalars(
        select(User).where(User.tenant_id == endpoint.tenant_id, User.is_active.is_(True))
    )
    return [u for u in users if DirectoryRole.global_admin.value in u.roles]
