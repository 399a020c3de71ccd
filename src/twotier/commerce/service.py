"""Orders a provider submits on behalf of a customer, and the subscriptions they create.

An order names, per line, the indirect reseller of record (Partner Center's
``PartnerIdOnRecord``). It is accepted only while the provider-reseller link is active and
both the reseller and the provider have an active relationship with the customer. Who sees a
subscription: the customer, its provider and its reseller of record — anyone else gets 404.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Integer, and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from twotier.channel.models import LinkStatus, ResellerLink
from twotier.commerce import queries
from twotier.commerce.models import (
    SUBSCRIPTION,
    Offer,
    OfferPrice,
    OfferStatus,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    SeatPool,
    Sku,
    Subscription,
    SubscriptionStatus,
)
from twotier.commerce.queries import CustomerScope
from twotier.commerce.schemas import (
    LineItemOut,
    OrderCreate,
    OrderOut,
    SubscriptionOut,
    SubscriptionPatch,
)
from twotier.customers.models import CustomerRelationship, RelationshipStatus
from twotier.customers.service import access_customer
from twotier.directory.models import PartnerAccount, PartnerProgram, Program, Tenant
from twotier.directory.principal import Permission, Principal
from twotier.events import service as events
from twotier.events.catalog import EventType
from twotier.kit.clock import utcnow
from twotier.kit.db import canonical_money, dialect_insert
from twotier.kit.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
)
from twotier.kit.fastread import Read, insert_row
from twotier.kit.pagination import AnySelect, PageParams, paginate
from twotier.partners.schemas import PartnerRef


async def customer_scope(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID
) -> CustomerScope:
    """The customer itself (with a role that shows subscriptions), or a partner with an
    active relationship and a partner role that shows customers; anyone else 404/403."""
    if principal.tenant_id == customer_id:
        if not principal.can(Permission.view_subscriptions):
            raise Forbidden(
                "Your roles do not show subscriptions and licenses.", code="insufficient_role"
            )
        return CustomerScope(customer_id, None)
    if principal.partner_account_id is None:
        raise NotFound("No such customer.", code="customer_not_found")
    await access_customer(session, principal, customer_id)
    if not principal.can(Permission.view_customers):
        raise Forbidden("Your partner roles do not show customers.", code="insufficient_role")
    return CustomerScope(customer_id, principal.partner_account_id)


def etag(subscription: Subscription) -> str:
    return queries.etag(subscription.id, subscription.version)


def add_term(start: datetime, term: str) -> datetime:
    months = {"P1M": 1, "P1Y": 12}[term]
    month0 = start.month - 1 + months
    year, month = start.year + month0 // 12, month0 % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


async def _partners(
    session: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, PartnerAccount]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = await session.scalars(select(PartnerAccount).where(PartnerAccount.id.in_(wanted)))
    return {p.id: p for p in rows}


# Seats: the pool's total follows the quantity of the customer's active subscriptions.


def _add_seats(dialect_name: str) -> Any:
    table: Any = SeatPool.__table__
    delta = bindparam("delta", type_=Integer())
    return (
        dialect_insert(dialect_name)(table)
        .values(
            id=bindparam("id", type_=table.c.id.type),
            customer_tenant_id=bindparam("customer_tenant_id", type_=table.c.id.type),
            sku_id=bindparam("sku_id", type_=table.c.id.type),
            total=delta,
            assigned=0,
        )
        .on_conflict_do_update(
            index_elements=["customer_tenant_id", "sku_id"], set_={"total": table.c.total + delta}
        )
        .returning(table.c.id)
    )


# The (customer, SKU) pool created with ``delta`` seats, or ``delta`` added to it.
_ADD_SEATS = Read(_add_seats("postgresql"), sqlite=_add_seats("sqlite"))


async def change_seats(
    session: AsyncSession,
    customer_id: uuid.UUID,
    sku_id: uuid.UUID,
    delta: int,
    *,
    keep_assigned: bool,
) -> None:
    """Move the (customer, SKU) pool's total by ``delta`` in one statement: an insert that
    adds to the pool when it exists (concurrent creators: the unique index orders them).
    With ``keep_assigned`` a decrease that would leave fewer seats than assigned licenses is
    refused (the pool's WHERE)."""
    if delta == 0:
        return
    if delta < 0 and keep_assigned:
        moved = await session.scalar(
            update(SeatPool)
            .where(
                SeatPool.customer_tenant_id == customer_id,
                SeatPool.sku_id == sku_id,
                SeatPool.assigned <= SeatPool.total + delta,
            )
            .values(total=SeatPool.total + delta)
            .returning(SeatPool.id)
            .execution_options(synchronize_session=False)
        )
    else:
        added = await _ADD_SEATS.all(
            session, id=uuid.uuid4(), customer_tenant_id=customer_id, sku_id=sku_id, delta=delta
        )
        moved = added[0].id if added else None
    if moved is None:
        raise Conflict(
            "Licenses are assigned to more users than this quantity would leave; "
            "unassign licenses first.",
            code="seats_in_use",
        )


# Orders.


def require_ordering_provider(principal: Principal) -> uuid.UUID:
    if principal.partner_account_id is None or not principal.in_program(Program.indirect_provider):
        raise Forbidden(
            "Only an indirect provider submits orders; in the indirect model resellers do not "
            "purchase. Ask your indirect provider to place the order.",
            code="not_an_indirect_provider",
        )
    if not principal.can(Permission.submit_orders):
        raise Forbidden("Only admin agents submit orders.", code="insufficient_role")
    return principal.partner_account_id


async def resellers_of_record(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID
) -> list[PartnerAccount]:
    """The resellers this provider may name as partner of record for ``customer_id``."""
    provider_id = require_ordering_provider(principal)
    await access_customer(session, principal, customer_id)
    rows = await session.scalars(
        select(PartnerAccount)
        .join(ResellerLink, ResellerLink.reseller_account_id == PartnerAccount.id)
        .join(CustomerRelationship, CustomerRelationship.partner_account_id == PartnerAccount.id)
        .where(
            ResellerLink.provider_account_id == provider_id,
            ResellerLink.status == LinkStatus.active,
            CustomerRelationship.customer_tenant_id == customer_id,
            CustomerRelationship.status == RelationshipStatus.active,
        )
        .order_by(PartnerAccount.company_name_lower, PartnerAccount.id)
    )
    return list(rows)


async def create_order(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID, data: OrderCreate
) -> OrderOut:
    """A provider's order on behalf of a customer: check, write, announce."""
    plan = await _check_order(session, principal, customer_id, data)
    out = await _write_order(session, principal, customer_id, data, plan)
    await _announce_order(session, principal, customer_id, out, plan)
    return out


@dataclass(frozen=True)
class _OrderPlan:
    """What an order was checked against, read in one query whatever its lines: the
    provider and the customer's country, every line's offer (with its SKU, product and
    price in that country), every reseller of record."""

    provider: _Party
    country: str
    offers: dict[uuid.UUID, _Offer]
    resellers: dict[str, _Party]


class _Party(NamedTuple):
    """The ordering provider, or a reseller of record."""

    id: uuid.UUID
    partner_id: str
    company_name: str
    country: str
    tenant_id: uuid.UUID


class _Offer(NamedTuple):
    """A line's live offer, with its SKU, product and price in the customer's country
    (read as the database gives them, like a row)."""

    id: Any
    name: str
    sku_id: Any
    billing_cycle: Any
    term: Any
    cancellation_window_days: int
    min_quantity: int
    max_quantity: int
    sku_name: str
    product_name: str
    unit_price: Any  # None where the offer is not sold in the customer's country
    currency: Any


_reseller = aliased(PartnerAccount)
_resellers_own = aliased(CustomerRelationship)  # the reseller's relationship, not the provider's
_PARTY = tuple(getattr(PartnerAccount, name) for name in _Party._fields)
_RESELLER = tuple(getattr(_reseller, name) for name in _Party._fields)
_OFFER = (Offer.id, Offer.name, Offer.sku_id, Offer.billing_cycle, Offer.term,
          Offer.cancellation_window_days, Offer.min_quantity, Offer.max_quantity,
          Sku.name, Product.name, OfferPrice.unit_price, OfferPrice.currency)  # fmt: skip

# What an order is checked against, in one query: the provider's active relationship with
# the customer (no row: no such customer), with the customer's country; joined to it, the
# lines' live offers with their SKU, product and price in that country, and the named
# resellers that may be partner of record (indirect resellers linked to the provider with
# an active relationship with the customer) — a row per offer and reseller found.
_ORDER_CHECK = Read(
    select(Tenant.country, *_PARTY, *_OFFER, *_RESELLER)
    .select_from(CustomerRelationship)
    .join(Tenant, Tenant.id == CustomerRelationship.customer_tenant_id)
    .join(PartnerAccount, PartnerAccount.id == CustomerRelationship.partner_account_id)
    .outerjoin(
        Offer,
        and_(
            Offer.id.in_(bindparam("offer_ids", expanding=True)),
            Offer.status == OfferStatus.active,
        ),
    )
    .outerjoin(Sku, Sku.id == Offer.sku_id)
    .outerjoin(Product, Product.id == Sku.product_id)
    .outerjoin(
        OfferPrice, and_(OfferPrice.offer_id == Offer.id, OfferPrice.country == Tenant.country)
    )
    .outerjoin(
        _reseller,
        and_(
            _reseller.partner_id.in_(bindparam("partner_ids", expanding=True)),
            select(PartnerProgram.partner_account_id)
            .where(
                PartnerProgram.partner_account_id == _reseller.id,
                PartnerProgram.program == Program.indirect_reseller,
            )
            .exists(),
            select(ResellerLink.id)
            .where(
                ResellerLink.provider_account_id == PartnerAccount.id,
                ResellerLink.reseller_account_id == _reseller.id,
                ResellerLink.status == LinkStatus.active,
            )
            .exists(),
            select(_resellers_own.id)
            .where(
                _resellers_own.partner_account_id == _reseller.id,
                _resellers_own.customer_tenant_id == bindparam("customer_id"),
                _resellers_own.status == RelationshipStatus.active,
            )
            .exists(),
        ),
    )
    .where(
        CustomerRelationship.partner_account_id == bindparam("provider_id"),
        CustomerRelationship.customer_tenant_id == bindparam("customer_id"),
        CustomerRelationship.status == RelationshipStatus.active,
    )
)
_OFFER_AT = slice(1 + len(_PARTY), 1 + len(_PARTY) + len(_OFFER))
_RESELLER_AT = slice(_OFFER_AT.stop, None)


async def _check_order(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID, data: OrderCreate
) -> _OrderPlan:
    """The provider's relationship, the attestation, and each line: a live offer sold in the
    customer's country, a quantity it allows, a reseller of record that may be named."""
    provider_id = require_ordering_provider(principal)
    offer_ids = list(dict.fromkeys(line.offer_id for line in data.line_items))
    keys = list(dict.fromkeys(line.partner_id_on_record.strip() for line in data.line_items))
    found = await _ORDER_CHECK.all(
        session,
        provider_id=provider_id,
        customer_id=customer_id,
        offer_ids=offer_ids,
        partner_ids=keys,
    )
    if not found:
        raise NotFound("No such customer.", code="customer_not_found")
    if not data.attestation_accepted:
        raise Invalid(
            "Accept the attestation: you confirm the customer agreed to the vendor's terms and "
            "that the named reseller is the partner of record.",
            code="attestation_required",
        )
    first = tuple(found[0])
    country = first[0]
    provider = _Party(*first[1 : _OFFER_AT.start])
    offers: dict[uuid.UUID, _Offer] = {}
    resellers: dict[str, _Party] = {}
    for row in found:
        values = tuple(row)
        if values[_OFFER_AT.start] is not None:
            offers.setdefault(values[_OFFER_AT.start], _Offer(*values[_OFFER_AT]))
        if values[_RESELLER_AT.start] is not None:
            reseller = _Party(*values[_RESELLER_AT])
            resellers.setdefault(reseller.partner_id, reseller)
    for n, line in enumerate(data.line_items, start=1):
        offer = offers.get(line.offer_id)
        if offer is None:
            raise Invalid(f"Line {n}: there is no such offer.", code="offer_not_found")
        if offer.unit_price is None:
            raise Invalid(
                f"Line {n}: {offer.name} is not sold in {country}, the customer's country.",
                code="offer_not_available_in_country",
            )
        if not offer.min_quantity <= line.quantity <= offer.max_quantity:
            raise Invalid(
                f"Line {n}: {offer.name} is sold in quantities of {offer.min_quantity} to "
                f"{offer.max_quantity}.",
                code="quantity_out_of_range",
            )
        key = line.partner_id_on_record.strip()
        if key not in resellers:
            raise Invalid(
                f"Partner ID {key} cannot be the partner of record: it must be an indirect "
                "reseller linked to you that has an active relationship with this customer.",
                code="partner_on_record_invalid",
            )
    return _OrderPlan(provider, country, offers, resellers)


def _ref(row: _Party) -> PartnerRef:
    return PartnerRef(
        id=row.id, partner_id=row.partner_id, company_name=row.company_name, country=row.country
    )


_INSERT_ORDER = Read(insert_row(Order.__table__))
_INSERT_SUBSCRIPTION = Read(insert_row(Subscription.__table__))
_INSERT_LINE = Read(insert_row(OrderLine.__table__))


async def _write_order(
    session: AsyncSession,
    principal: Principal,
    customer_id: uuid.UUID,
    data: OrderCreate,
    plan: _OrderPlan,
) -> OrderOut:
    """The order, one subscription and one line per order line, and the seats they add, in
    one INSERT per table; answered from what was written (no read back)."""
    now = utcnow()
    provider = _ref(plan.provider)
    order_id = uuid.uuid4()
    subscriptions: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    line_items: list[LineItemOut] = []
    subs_out: list[SubscriptionOut] = []
    for n, line in enumerate(data.line_items, start=1):
        offer = plan.offers[line.offer_id]
        reseller = plan.resellers[line.partner_id_on_record.strip()]
        sub_id = uuid.uuid4()
        sub = {
            "id": sub_id,
            "customer_tenant_id": customer_id,
            "order_id": order_id,
            "offer_id": offer.id,
            "sku_id": offer.sku_id,
            "provider_account_id": provider.id,
            "reseller_account_id": reseller.id,
            "quantity": line.quantity,
            "status": SubscriptionStatus.active,
            "auto_renew": True,
            "unit_price": offer.unit_price,
            "currency": offer.currency,
            "term_ends_at": add_term(now, offer.term),
            "cancellable_until": now + timedelta(days=offer.cancellation_window_days),
            "suspended_at": None,
            "cancelled_at": None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        subscriptions.append(sub)
        lines.append(
            {
                "id": uuid.uuid4(),
                "order_id": order_id,
                "line_number": n,
                "offer_id": offer.id,
                "quantity": line.quantity,
                "reseller_account_id": reseller.id,
                "unit_price": offer.unit_price,
                "currency": offer.currency,
                "subscription_id": sub_id,
            }
        )
        line_items.append(
            LineItemOut(
                line_number=n,
                offer_id=offer.id,
                offer_name=offer.name,
                sku_id=offer.sku_id,
                quantity=line.quantity,
                partner_id_on_record=reseller.partner_id,
                unit_price=offer.unit_price,
                currency=offer.currency,
                amount=canonical_money(offer.unit_price * Decimal(line.quantity)),
                subscription_id=sub_id,
            )
        )
        subs_out.append(
            SubscriptionOut(
                id=sub_id,
                customer_id=customer_id,
                order_id=order_id,
                offer_id=offer.id,
                offer_name=offer.name,
                product_name=offer.product_name,
                sku_id=offer.sku_id,
                sku_name=offer.sku_name,
                quantity=line.quantity,
                status="active",
                auto_renew=True,
                billing_cycle=offer.billing_cycle,
                term=offer.term,
                unit_price=offer.unit_price,
                currency=offer.currency,
                partner_id_on_record=reseller.partner_id,
                indirect_reseller=_ref(reseller),
                indirect_provider=provider,
                created_at=now,
                updated_at=now,
                term_ends_at=sub["term_ends_at"],
                cancellable_until=sub["cancellable_until"],
                suspended_at=None,
                cancelled_at=None,
                etag=queries.etag(sub_id, 1),
            )
        )
    await _INSERT_ORDER.all(
        session,
        id=order_id,
        customer_tenant_id=customer_id,
        provider_account_id=provider.id,
        status=OrderStatus.completed,
        created_by_user_id=principal.user_id,
        attestation_accepted_at=now,
        created_at=now,
    )
    await _INSERT_SUBSCRIPTION.many(session, subscriptions)
    await _INSERT_LINE.many(session, lines)
    seats: dict[uuid.UUID, int] = {}
    for sub in subscriptions:
        seats[sub["sku_id"]] = seats.get(sub["sku_id"], 0) + sub["quantity"]
    for sku_id, quantity in seats.items():
        await change_seats(session, customer_id, sku_id, quantity, keep_assigned=False)
    return OrderOut(
        id=order_id,
        customer_id=customer_id,
        status=OrderStatus.completed,
        indirect_provider=provider,
        line_items=line_items,
        subscriptions=subs_out,
        attestation_accepted_at=now,
        created_by_user_id=principal.user_id,
        created_at=now,
    )


async def _announce_order(
    session: AsyncSession,
    principal: Principal,
    customer_id: uuid.UUID,
    out: OrderOut,
    plan: _OrderPlan,
) -> None:
    """Audit the order (each line's price and reseller) and tell the provider, the resellers
    of record and the customer of it and of each subscription."""
    provider = plan.provider.tenant_id
    resellers = plan.resellers
    audience = [customer_id, provider, *(r.tenant_id for r in resellers.values())]
    told = out.model_dump(mode="json")  # once for all the events
    await events.announce(
        session,
        principal,
        "order_created",
        resource_type="order",
        resource_id=out.id,
        on_behalf_of_customer_id=customer_id,
        detail={
            "lines": [
                {
                    "offer": line.offer_name,
                    "quantity": line.quantity,
                    "partner_id_on_record": line.partner_id_on_record,
                    "unit_price": str(line.unit_price),
                    "currency": line.currency,
                }
                for line in out.line_items
            ]
        },
        tell=[
            events.Tell(
                EventType.order_created,
                resource_type="order",
                resource_id=out.id,
                resource_uri=f"/api/v1/customers/{customer_id}/orders/{out.id}",
                audience=audience,
                data={key: told[key] for key in ("id", "status", "line_items")},
            ),
            *(
                events.Tell(
                    EventType.subscription_created,
                    resource_type="subscription",
                    resource_id=sub_out.id,
                    resource_uri=f"/api/v1/customers/{customer_id}/subscriptions/{sub_out.id}",
                    audience=[
                        customer_id,
                        provider,
                        resellers[sub_out.partner_id_on_record].tenant_id,
                    ],
                    data=sub_told,
                )
                for sub_out, sub_told in zip(out.subscriptions, told["subscriptions"], strict=True)
            ),
        ],
    )


async def order_out(
    session: AsyncSession, order: Order, scope: CustomerScope | None = None
) -> OrderOut:
    return (await orders_out(session, [order], scope))[0]


async def orders_out(
    session: AsyncSession, orders: Sequence[Order], scope: CustomerScope | None = None
) -> list[OrderOut]:
    """Orders with their lines and subscriptions, in three queries whatever their number.
    A reseller sees only the lines it is partner of record on."""
    if not orders:
        return []
    ids = [o.id for o in orders]
    lines = (
        await session.execute(
            select(OrderLine, Offer.name, Offer.sku_id)
            .join(Offer, Offer.id == OrderLine.offer_id)
            .where(OrderLine.order_id.in_(ids))
            .order_by(OrderLine.order_id, OrderLine.line_number)
        )
    ).all()
    partners = await _partners(
        session,
        [o.provider_account_id for o in orders]
        + [line.reseller_account_id for line, _n, _s in lines],
    )
    subs = queries.subscriptions_out(
        list(
            await session.execute(queries.subscription_rows().where(Subscription.order_id.in_(ids)))
        )
    )
    by_id = {s.id: s for s in subs}
    out = []
    for order in orders:
        viewer = scope.partner_account_id if scope else None
        mine = [
            (line, offer_name, sku_id)
            for line, offer_name, sku_id in lines
            if line.order_id == order.id
            and (
                viewer is None
                or viewer == order.provider_account_id
                or viewer == line.reseller_account_id
            )
        ]
        out.append(
            OrderOut(
                id=order.id,
                customer_id=order.customer_tenant_id,
                status=order.status,
                indirect_provider=PartnerRef.model_validate(partners[order.provider_account_id]),
                line_items=[
                    LineItemOut(
                        line_number=line.line_number,
                        offer_id=line.offer_id,
                        offer_name=offer_name,
                        sku_id=sku_id,
                        quantity=line.quantity,
                        partner_id_on_record=partners[line.reseller_account_id].partner_id,
                        unit_price=line.unit_price,
                        currency=line.currency,
                        amount=canonical_money(line.unit_price * Decimal(line.quantity)),
                        subscription_id=line.subscription_id,
                    )
                    for line, offer_name, sku_id in mine
                ],
                subscriptions=[by_id[line.subscription_id] for line, _n, _s in mine],
                attestation_accepted_at=order.attestation_accepted_at,
                created_by_user_id=order.created_by_user_id,
                created_at=order.created_at,
            )
        )
    return out


def _orders_in(scope: CustomerScope) -> AnySelect:
    stmt = select(Order).where(Order.customer_tenant_id == scope.customer_id)
    if scope.partner_account_id is not None:
        # A provider sees the orders it submitted; a reseller those it is partner of record on.
        on_record = (
            select(OrderLine.id)
            .where(
                OrderLine.order_id == Order.id,
                OrderLine.reseller_account_id == scope.partner_account_id,
            )
            .exists()
        )
        stmt = stmt.where(or_(Order.provider_account_id == scope.partner_account_id, on_record))
    return stmt


async def list_orders(
    session: AsyncSession,
    principal: Principal,
    customer_id: uuid.UUID,
    params: PageParams,
    *,
    newest_first: bool = False,
) -> tuple[list[OrderOut], str | None]:
    scope = await customer_scope(session, principal, customer_id)
    orders, cursor = await paginate(
        session,
        _orders_in(scope),
        keys=[Order.created_at, Order.id],
        params=params,
        descending=newest_first,
    )
    return await orders_out(session, orders, scope), cursor


async def get_order(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID, order_id: uuid.UUID
) -> OrderOut:
    scope = await customer_scope(session, principal, customer_id)
    order = await session.scalar(_orders_in(scope).where(Order.id == order_id))
    if order is None:
        raise NotFound("No such order.", code="order_not_found")
    return await order_out(session, order, scope)


# Subscriptions.


async def list_subscriptions(
    session: AsyncSession,
    principal: Principal,
    customer_id: uuid.UUID,
    params: PageParams,
    *,
    status: str | None = None,
) -> tuple[list[SubscriptionOut], str | None]:
    """``subscription_dicts``, validated as ``SubscriptionOut`` (for the portal's pages)."""
    items, cursor = await subscription_dicts(session, principal, customer_id, params, status=status)
    return queries.SUBSCRIPTION_LIST.validate_python(items), cursor


async def subscription_dicts(
    session: AsyncSession,
    principal: Principal,
    customer_id: uuid.UUID,
    params: PageParams,
    *,
    status: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    scope = queries.scope_without_lookup(principal, customer_id) or await customer_scope(
        session, principal, customer_id
    )
    items, cursor = await queries.subscription_page(session, scope, params, status)
    if not items and scope.relationship_unchecked:  # none, or not the caller's customer (404)?
        await customer_scope(session, principal, customer_id)
    return items, cursor


async def get_subscription(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID, subscription_id: uuid.UUID
) -> SubscriptionOut:
    scope = await customer_scope(session, principal, customer_id)
    return await _subscription_in(session, scope, subscription_id)


async def _subscription_in(
    session: AsyncSession, scope: CustomerScope, subscription_id: uuid.UUID
) -> SubscriptionOut:
    row = (
        await session.execute(
            scope.subscriptions(queries.subscription_rows()).where(
                Subscription.id == subscription_id
            )
        )
    ).first()
    if row is None:
        raise NotFound("No such subscription.", code="subscription_not_found")
    return queries.subscription_out(row)


def _matches(if_match: str, current: str) -> bool:
    tags = [t.strip() for t in if_match.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == current for t in tags)


def in_cancellation_window(
    status: str, cancellable_until: datetime, now: datetime | None = None
) -> bool:
    """Whether a subscription may still be cancelled or lowered: not cancelled, and within
    the cancellation window its offer gave it."""
    return status != SubscriptionStatus.cancelled and (now or utcnow()) <= cancellable_until


async def _subscription_to_change(
    session: AsyncSession,
    principal: Principal,
    scope: CustomerScope,
    subscription_id: uuid.UUID,
    if_match: str | None,
) -> Subscription:
    """The subscription, locked, if the caller is its provider and read its current ETag."""
    sub: Subscription | None = await session.scalar(
        scope.subscriptions(select(Subscription))
        .where(Subscription.id == subscription_id)
        .with_for_update()
    )
    if sub is None:
        raise NotFound("No such subscription.", code="subscription_not_found")
    if sub.provider_account_id != principal.partner_account_id:
        raise Forbidden(
            "Only the indirect provider that sold this subscription changes it.",
            code="provider_only",
        )
    require_ordering_provider(principal)
    if if_match is None:
        raise PreconditionRequired(
            "Send If-Match with the subscription's ETag.", code="if_match_required"
        )
    if not _matches(if_match, etag(sub)):
        raise PreconditionFailed(
            "The subscription changed since you read it; get it again and retry.",
            code="etag_mismatch",
        )
    if sub.status == SubscriptionStatus.cancelled:
        raise Conflict("This subscription is cancelled.", code="subscription_cancelled")
    return sub


def _check_change(sub: Subscription, offer: Offer, data: SubscriptionPatch, now: datetime) -> None:
    """The offer's quantity limits, and its cancellation window for going down or cancelling."""
    in_window = in_cancellation_window(sub.status, sub.cancellable_until, now)
    if data.quantity is not None and data.quantity != sub.quantity:
        if not offer.min_quantity <= data.quantity <= offer.max_quantity:
            raise Invalid(
                f"{offer.name} is sold in quantities of {offer.min_quantity} to "
                f"{offer.max_quantity}.",
                code="quantity_out_of_range",
            )
        if data.quantity < sub.quantity and not in_window:
            raise Conflict(
                "The quantity can only go down within the cancellation window "
                f"(until {sub.cancellable_until:%Y-%m-%d %H:%M} UTC).",
                code="cancellation_window_closed",
            )
    if data.status is not None and data.status != sub.status:
        SUBSCRIPTION.check(sub.status, SubscriptionStatus(data.status))
        if data.status == SubscriptionStatus.cancelled and not in_window:
            raise Conflict(
                "A subscription can only be cancelled within its cancellation window "
                f"(until {sub.cancellable_until:%Y-%m-%d %H:%M} UTC); turn auto-renew off so it "
                "ends with its term.",
                code="cancellation_window_closed",
            )


async def _apply_change(
    session: AsyncSession,
    customer_id: uuid.UUID,
    sub: Subscription,
    data: SubscriptionPatch,
    now: datetime,
) -> None:
    """Quantity, then status, then auto-renew; the seat pool follows what counts."""
    counts = sub.status == SubscriptionStatus.active  # its seats are in the pool now
    if data.quantity is not None and data.quantity != sub.quantity:
        if counts:
            await change_seats(
                session, customer_id, sub.sku_id, data.quantity - sub.quantity, keep_assigned=True
            )
        sub.quantity = data.quantity
    if data.status is not None and data.status != sub.status:
        if counts:
            # Suspending or cancelling takes its seats away; assigned licenses stay assigned
            # (and unusable) until someone unassigns them. No new assignment fits meanwhile.
            await change_seats(session, customer_id, sub.sku_id, -sub.quantity, keep_assigned=False)
        elif data.status == SubscriptionStatus.active:
            await change_seats(session, customer_id, sub.sku_id, sub.quantity, keep_assigned=False)
        SUBSCRIPTION.move(sub, SubscriptionStatus(data.status))
        if data.status == SubscriptionStatus.suspended:
            sub.suspended_at = now
        elif data.status == SubscriptionStatus.active:
            sub.suspended_at = None
        else:
            sub.cancelled_at = now
            sub.auto_renew = False
    if data.auto_renew is not None and sub.status != SubscriptionStatus.cancelled:
        sub.auto_renew = data.auto_renew


async def update_subscription(
    session: AsyncSession,
    principal: Principal,
    customer_id: uuid.UUID,
    subscription_id: uuid.UUID,
    data: SubscriptionPatch,
    if_match: str | None,
) -> SubscriptionOut:
    """The provider changes quantity, status or auto-renew under If-Match: check, write,
    announce (nothing is announced when nothing changed)."""
    scope = await customer_scope(session, principal, customer_id)
    sub = await _subscription_to_change(session, principal, scope, subscription_id, if_match)
    offer = await session.get_one(Offer, sub.offer_id)
    now = utcnow()
    _check_change(sub, offer, data, now)

    before = {"quantity": sub.quantity, "status": sub.status, "auto_renew": sub.auto_renew}
    await _apply_change(session, customer_id, sub, data, now)
    after = {"quantity": sub.quantity, "status": sub.status, "auto_renew": sub.auto_renew}
    if after == before:
        return await _subscription_in(session, scope, sub.id)
    sub.version += 1
    sub.updated_at = now
    await session.flush()

    changes = {k: {"from": before[k], "to": after[k]} for k in after if after[k] != before[k]}
    out = await _subscription_in(session, scope, sub.id)
    reseller = await session.get_one(PartnerAccount, sub.reseller_account_id)
    provider = await session.get_one(PartnerAccount, sub.provider_account_id)
    await events.announce(
        session,
        principal,
        "subscription_updated",
        resource_type="subscription",
        resource_id=sub.id,
        on_behalf_of_customer_id=customer_id,
        detail={"changes": changes},
        tell=[
            events.Tell(
                EventType.subscription_updated,
                resource_type="subscription",
                resource_id=sub.id,
                resource_uri=f"/api/v1/customers/{customer_id}/subscriptions/{sub.id}",
                audience=[customer_id, provider.tenant_id, reseller.tenant_id],
                data={"changes": changes, "subscription": out.model_dump(mode="json")},
            )
        ],
    )
    return out
