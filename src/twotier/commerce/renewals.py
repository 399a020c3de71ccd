"""The end of a subscription's term: renewed for another term when auto-renew is on, ended
otherwise. Run by the outbox worker at every round; a round with nothing due costs one
indexed read and takes no write lock."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.commerce.models import SUBSCRIPTION, Offer, Subscription, SubscriptionStatus
from twotier.commerce.service import add_term, change_seats
from twotier.config import Settings
from twotier.directory.models import PartnerAccount
from twotier.events import service as events
from twotier.events.catalog import EventType
from twotier.kit.clock import utcnow
from twotier.kit.db import Database
from twotier.kit.outbox import periodic
from twotier.kit.pagination import AnySelect

BATCH = 200


def _due() -> AnySelect:
    return (
        select(Subscription)
        .where(
            Subscription.status != SubscriptionStatus.cancelled,
            Subscription.term_ends_at <= utcnow(),
        )
        .order_by(Subscription.term_ends_at, Subscription.id)
        .limit(BATCH)
    )


async def _end_of_term(session: AsyncSession, sub: Subscription) -> None:
    offer = await session.get_one(Offer, sub.offer_id)
    now = utcnow()
    ended_at = sub.term_ends_at
    before = {"status": sub.status, "term_ends_at": ended_at.isoformat()}
    if sub.auto_renew:
        reason = "renewed"
        while sub.term_ends_at <= now:  # a worker that was down catches up whole terms
            start = sub.term_ends_at
            sub.term_ends_at = add_term(start, offer.term)
        sub.cancellable_until = start + timedelta(days=offer.cancellation_window_days)
    else:
        reason = "term_ended"
        if sub.status == SubscriptionStatus.active:
            await change_seats(
                session, sub.customer_tenant_id, sub.sku_id, -sub.quantity, keep_assigned=False
            )
        SUBSCRIPTION.move(sub, SubscriptionStatus.cancelled)
        sub.cancelled_at = ended_at
    sub.version += 1
    sub.updated_at = now
    after = {"status": sub.status, "term_ends_at": sub.term_ends_at.isoformat()}
    changes = {k: {"from": before[k], "to": after[k]} for k in after if after[k] != before[k]}
    partners = await session.scalars(
        select(PartnerAccount.tenant_id).where(
            PartnerAccount.id.in_([sub.provider_account_id, sub.reseller_account_id])
        )
    )
    await events.announce(
        session,
        None,
        "subscription_renewed" if sub.auto_renew else "subscription_ended",
        resource_type="subscription",
        resource_id=sub.id,
        subject_tenant_id=sub.customer_tenant_id,
        detail={"changes": changes, "reason": reason},
        tell=[
            events.Tell(
                EventType.subscription_updated,
                resource_type="subscription",
                resource_id=sub.id,
                resource_uri=f"/api/v1/customers/{sub.customer_tenant_id}/subscriptions/{sub.id}",
                audience=[sub.customer_tenant_id, *partners],
                data={"changes": changes, "reason": reason},
            )
        ],
    )


async def renew_due(db: Database) -> int:
    """Handle every subscription whose term has ended; returns how many."""
    done = 0
    while True:
        async with db.read_sessions() as reader:
            ids: list[uuid.UUID] = list(
                await reader.scalars(_due().with_only_columns(Subscription.id))
            )
        if not ids:
            return done
        handled = 0
        async with db.write_sessions() as session, session.begin():
            subs = await session.scalars(
                _due().where(Subscription.id.in_(ids)).with_for_update(skip_locked=True)
            )
            for sub in subs:
                await _end_of_term(session, sub)
                handled += 1
        done += handled
        if len(ids) < BATCH or handled == 0:  # the rest is another worker's, right now
            return done


@periodic("subscription_renewals")
async def _renew_periodically(db: Database, _settings: Settings) -> None:
    await renew_due(db)
