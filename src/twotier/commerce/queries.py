"""The reads a customer's subscriptions answer with: the columns they show, one query each
(the subscription, its offer, SKU and product, and both partners' names). A read that can
authorize by a condition of its own does, so the hot path is the principal and one query."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Row, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from twotier.commerce.models import Offer, Product, Sku, Subscription
from twotier.commerce.schemas import SubscriptionOut
from twotier.customers.queries import related
from twotier.directory.models import PartnerAccount
from twotier.directory.principal import Permission, Principal
from twotier.kit.errors import Forbidden
from twotier.kit.fastread import PagedRead
from twotier.kit.pagination import AnySelect, PageParams


@dataclass(frozen=True)
class CustomerScope:
    """Who is looking at a customer's commerce objects."""

    customer_id: uuid.UUID
    # The partner looking (None: the customer itself, which sees everything of its own).
    partner_account_id: uuid.UUID | None
    # Not yet looked up: the read itself requires the partner's active relationship.
    relationship_unchecked: bool = False

    def subscriptions(self, stmt: AnySelect) -> AnySelect:
        stmt = stmt.where(Subscription.customer_tenant_id == self.customer_id)
        if self.partner_account_id is not None:
            stmt = stmt.where(
                or_(
                    Subscription.provider_account_id == self.partner_account_id,
                    Subscription.reseller_account_id == self.partner_account_id,
                )
            )
            if self.relationship_unchecked:
                stmt = stmt.where(related(self.partner_account_id, self.customer_id))
        return stmt


def scope_without_lookup(principal: Principal, customer_id: uuid.UUID) -> CustomerScope | None:
    """The scope a read can carry in its own query: the customer itself (403 without a
    role that shows subscriptions), or a partner with a role that shows customers, its
    relationship left to the query. None when only a lookup can answer (404 or 403)."""
    if principal.tenant_id == customer_id:
        if not principal.can(Permission.view_subscriptions):
            raise Forbidden(
                "Your roles do not show subscriptions and licenses.", code="insufficient_role"
            )
        return CustomerScope(customer_id, None)
    if principal.partner_account_id is None or not principal.can(Permission.view_customers):
        return None
    return CustomerScope(customer_id, principal.partner_account_id, relationship_unchecked=True)


_reseller = aliased(PartnerAccount)
_provider = aliased(PartnerAccount)

SUBSCRIPTION_COLUMNS = (
    Subscription.id,
    Subscription.customer_tenant_id,
    Subscription.order_id,
    Subscription.offer_id,
    Subscription.sku_id,
    Subscription.quantity,
    Subscription.status,
    Subscription.auto_renew,
    Subscription.unit_price,
    Subscription.currency,
    Subscription.created_at,
    Subscription.updated_at,
    Subscription.term_ends_at,
    Subscription.cancellable_until,
    Subscription.suspended_at,
    Subscription.cancelled_at,
    Subscription.version,
    Offer.name.label("offer_name"),
    Offer.billing_cycle,
    Offer.term,
    Sku.name.label("sku_name"),
    Product.name.label("product_name"),
    _reseller.id.label("reseller_id"),
    _reseller.partner_id.label("reseller_partner_id"),
    _reseller.company_name.label("reseller_name"),
    _reseller.country.label("reseller_country"),
    _provider.id.label("provider_id"),
    _provider.partner_id.label("provider_partner_id"),
    _provider.company_name.label("provider_name"),
    _provider.country.label("provider_country"),
)


def subscription_rows() -> AnySelect:
    """Subscriptions with everything their representation names, in one query."""
    return (
        select(*SUBSCRIPTION_COLUMNS)
        .join(Offer, Offer.id == Subscription.offer_id)
        .join(Sku, Sku.id == Subscription.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .join(_reseller, _reseller.id == Subscription.reseller_account_id)
        .join(_provider, _provider.id == Subscription.provider_account_id)
    )


def etag(subscription_id: uuid.UUID, version: int) -> str:
    return f'"{subscription_id.hex[:12]}-{version}"'


_KEYS = [column.key for column in SUBSCRIPTION_COLUMNS]


def subscription_dict(row: Row[Any]) -> dict[str, Any]:
    """A subscription row as its answer's fields (a row's attributes cost more than one
    zip of its values with the column names)."""
    r = dict(zip(_KEYS, row, strict=False))

    def ref(tier: str) -> dict[str, Any]:  # a PartnerRef's fields, from the tier's columns
        return {
            "id": r[f"{tier}_id"],
            "partner_id": r[f"{tier}_partner_id"],
            "company_name": r[f"{tier}_name"],
            "country": r[f"{tier}_country"],
        }

    return {
        "id": r["id"],
        "customer_id": r["customer_tenant_id"],
        "order_id": r["order_id"],
        "offer_id": r["offer_id"],
        "offer_name": r["offer_name"],
        "product_name": r["product_name"],
        "sku_id": r["sku_id"],
        "sku_name": r["sku_name"],
        "quantity": r["quantity"],
        "status": r["status"],
        "auto_renew": r["auto_renew"],
        "billing_cycle": r["billing_cycle"],
        "term": r["term"],
        "unit_price": r["unit_price"],
        "currency": r["currency"],
        "partner_id_on_record": r["reseller_partner_id"],
        "indirect_reseller": ref("reseller"),
        "indirect_provider": ref("provider"),
        "created_at": r["created_at"],
        "updated_at": r["updated_at"],
        "term_ends_at": r["term_ends_at"],
        "cancellable_until": r["cancellable_until"],
        "suspended_at": r["suspended_at"],
        "cancelled_at": r["cancelled_at"],
        "etag": etag(r["id"], r["version"]),
    }


SUBSCRIPTION_LIST = TypeAdapter(list[SubscriptionOut])


def subscription_out(row: Row[Any]) -> SubscriptionOut:
    return SubscriptionOut.model_validate(subscription_dict(row))


def subscriptions_out(rows: list[Row[Any]]) -> list[SubscriptionOut]:
    """Many at once: one validation in pydantic's core."""
    return SUBSCRIPTION_LIST.validate_python([subscription_dict(row) for row in rows])


@functools.cache
def _subscription_page(partner: bool, status: bool) -> PagedRead:
    """A customer's subscriptions as the customer sees them (``partner`` False) or as a
    partner does (its own, and only with an active relationship); ``status`` filtered."""

    def build() -> AnySelect:
        stmt = subscription_rows().where(Subscription.customer_tenant_id == bindparam("customer"))
        if partner:
            mine: Any = bindparam("mine")
            stmt = stmt.where(
                or_(
                    Subscription.provider_account_id == mine,
                    Subscription.reseller_account_id == mine,
                ),
                related(mine, bindparam("customer")),
            )
        if status:
            stmt = stmt.where(Subscription.status == bindparam("status"))
        return stmt

    return PagedRead(build, [Subscription.created_at, Subscription.id])


async def subscription_page(
    session: AsyncSession, scope: CustomerScope, params: PageParams, status: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the customer's subscriptions in ``scope``, oldest first, as the answer's
    dicts (``SUBSCRIPTION_LIST`` validates them). A partner's scope
    must be ``relationship_unchecked`` or checked: the read requires the relationship
    either way."""
    binds: dict[str, Any] = {"customer": scope.customer_id}
    if scope.partner_account_id is not None:
        binds["mine"] = scope.partner_account_id
    if status is not None:
        binds["status"] = status
    read = _subscription_page(scope.partner_account_id is not None, status is not None)
    rows, cursor = await read.page(session, params, **binds)
    return [subscription_dict(row) for row in rows], cursor
