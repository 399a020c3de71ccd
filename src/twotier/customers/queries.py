"""The reads the customer pages and endpoints answer with: the columns they show, one query
each. A read authorizes its caller and scopes to the caller's partner itself (Polar's
readable statements), so a route may call it directly; the service composes and changes."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import ColumnElement, Row, and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from twotier.access.models import DelegatedAccessGrant, GrantSource, grant_status
from twotier.channel.models import Side
from twotier.channel.queries import linked
from twotier.customers.models import (
    CustomerRelationship,
    RelationshipKind,
    RelationshipStatus,
    Tier,
    prefix_range,
)
from twotier.customers.schemas import CustomerOut, GrantOut, RelationshipOut
from twotier.directory.models import PartnerAccount, Tenant
from twotier.directory.principal import Permission, Principal
from twotier.kit.clock import utcnow
from twotier.kit.errors import Forbidden
from twotier.kit.fastread import MergedPagedRead, PagedRead, Read
from twotier.kit.pagination import AnySelect, PageParams
from twotier.partners.schemas import PartnerRef

_other = aliased(PartnerAccount)
_me = aliased(PartnerAccount)

# What a customer row shows: the relationship, the customer's tenant, the other tier.
CUSTOMER_COLUMNS = (
    CustomerRelationship.created_at,
    CustomerRelationship.id,
    CustomerRelationship.kind,
    CustomerRelationship.tier,
    Tenant.id.label("tenant_id"),
    Tenant.display_name,
    Tenant.domain,
    Tenant.country,
    _other.id.label("other_id"),
    _other.partner_id.label("other_partner_id"),
    _other.company_name.label("other_company_name"),
    _other.country.label("other_country"),
)


def relationship_dict(
    kind: RelationshipKind, tier: Tier, since: datetime, other: dict[str, Any] | None
) -> dict[str, Any]:
    """A relationship as its partner sees it: since when, direct or two-tier, and the other
    tier (the provider on a reseller's relationship, the reseller on a provider's)."""
    return {
        "since": since,
        "kind": "two_tier" if kind == RelationshipKind.two_tier else "direct",
        "indirect_provider": other if tier == Tier.reseller else None,
        "indirect_reseller": other if tier == Tier.provider else None,
    }


def relationship_out(
    kind: RelationshipKind, tier: Tier, since: datetime, other: PartnerRef | None
) -> RelationshipOut:
    ref = other.model_dump() if other is not None else None
    return RelationshipOut.model_validate(relationship_dict(kind, tier, since, ref))


def customer_dict(row: Row[Any]) -> dict[str, Any]:
    """A customer row as its answer's fields, for one validation of a whole page (pydantic
    validates nested dicts in its core three times faster than Python builds models). The
    row is unpacked by position (CUSTOMER_COLUMNS' order): a Row's attributes cost more."""
    (since, _id, kind, tier, tenant_id, name, domain, country, other_id, other_partner_id,
     other_name, other_country) = tuple(row)[:12]  # fmt: skip
    other = (
        {
            "id": other_id,
            "partner_id": other_partner_id,
            "company_name": other_name,
            "country": other_country,
        }
        if other_id is not None
        else None
    )
    return {
        "id": tenant_id,
        "company_name": name,
        "domain": domain,
        "country": country,
        "relationship": relationship_dict(kind, tier, since, other),
    }


CUSTOMER_LIST = TypeAdapter(list[CustomerOut])


def _customers_of(partner_account_id: Any) -> AnySelect:
    return (
        select(*CUSTOMER_COLUMNS)
        .join(Tenant, Tenant.id == CustomerRelationship.customer_tenant_id)
        .outerjoin(_other, _other.id == CustomerRelationship.other_tier_account_id)
        .where(
            CustomerRelationship.partner_account_id == partner_account_id,
            CustomerRelationship.status == RelationshipStatus.active,
        )
    )


def related(partner_account_id: Any, customer_id: Any) -> ColumnElement[bool]:
    """A condition for another query: the partner has an active relationship with the
    customer (how a read authorizes by the relationship without a query of its own)."""
    return (
        select(CustomerRelationship.id)
        .where(
            CustomerRelationship.partner_account_id == partner_account_id,
            CustomerRelationship.customer_tenant_id == customer_id,
            CustomerRelationship.status == RelationshipStatus.active,
        )
        .exists()
    )


def _starts(column: InstrumentedAttribute[str], bounded: bool) -> ColumnElement[bool]:
    """``column`` in [low, high) (or [low, ...) unbounded): a prefix as a range of the
    partner's search index (see ``prefix_range``)."""
    if bounded:
        return and_(column >= bindparam("low"), column < bindparam("high"))
    return column >= bindparam("low")


@functools.cache
def _page_read(shared: Side | None, search: str | None) -> PagedRead:
    """The customer page's hot read for one shape: shared with a linked partner on
    ``shared``'s side or not; ``search`` None, "bounded" or "open" (see ``_starts``)."""

    def build() -> AnySelect:
        stmt = _customers_of(bindparam("mine"))
        if shared is not None:
            other: Any = bindparam("other")
            stmt = stmt.where(
                CustomerRelationship.other_tier_account_id == other,
                linked(shared, bindparam("mine"), other),
            )
        return stmt

    if search is None:
        return PagedRead(build, [CustomerRelationship.created_at, CustomerRelationship.id])
    # A search answers in the order of what matched (the name, else the domain), which the
    # two search indexes serve: a page reads one page from each, however many match.
    bounded = search == "bounded"
    return MergedPagedRead(
        build,
        [
            (key, _starts(key, bounded))
            for key in (CustomerRelationship.search_name, CustomerRelationship.search_domain)
        ],
        CustomerRelationship.id,
    )


def readable_by(principal: Principal) -> uuid.UUID:
    """The partner whose customers the caller may see; 403 for anyone else."""
    if principal.partner_account_id is None:
        raise Forbidden("Only partners have customers.", code="not_a_partner")
    principal.demand(Permission.view_customers, "Your partner roles do not show customers.")
    return principal.partner_account_id


async def customer_page(
    session: AsyncSession,
    principal: Principal,
    q: str | None,
    params: PageParams,
    *,
    shared_with: tuple[Side, uuid.UUID] | None = None,
) -> tuple[list[CustomerOut], str | None]:
    """``customer_dicts``, validated as ``CustomerOut`` (for the portal's pages)."""
    items, cursor = await customer_dicts(session, principal, q, params, shared_with=shared_with)
    return CUSTOMER_LIST.validate_python(items), cursor


async def customer_dicts(
    session: AsyncSession,
    principal: Principal,
    q: str | None,
    params: PageParams,
    *,
    shared_with: tuple[Side, uuid.UUID] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the caller's active customers, oldest relationship first; ``q`` is a
    prefix of the name or the domain, answered in name order (a customer matched by its
    domain only, at its domain's place); ``shared_with`` (the caller's side of a link, the
    other side's account) keeps those shared with the partner the caller is linked to, and
    none without an active link."""
    binds: dict[str, Any] = {"mine": readable_by(principal)}
    side = None
    if shared_with is not None:
        side, binds["other"] = shared_with
    search = None
    if q and q.strip():
        binds["low"], high = prefix_range(q)
        search = "open" if high is None else "bounded"
        if high is not None:
            binds["high"] = high
    rows, cursor = await _page_read(side, search).page(session, params, **binds)
    return [customer_dict(row) for row in rows], cursor


# The customer record adds the caller's grants in the customer's tenant (and the caller's
# own name, which each grant shows): one row per grant, or one row without.
GRANT_COLUMNS = (
    DelegatedAccessGrant.id.label("grant_id"),
    DelegatedAccessGrant.roles,
    DelegatedAccessGrant.created_at.label("granted_at"),
    DelegatedAccessGrant.expires_at,
    DelegatedAccessGrant.status.label("grant_status"),
    DelegatedAccessGrant.extension_days,
    _me.id.label("my_id"),
    _me.partner_id.label("my_partner_id"),
    _me.company_name.label("my_company_name"),
    _me.country.label("my_country"),
)


_RECORD = Read(
    _customers_of(bindparam("mine"))
    .add_columns(*GRANT_COLUMNS)
    .join(_me, _me.id == CustomerRelationship.partner_account_id)
    .outerjoin(
        DelegatedAccessGrant,
        and_(
            DelegatedAccessGrant.tenant_id == CustomerRelationship.customer_tenant_id,
            DelegatedAccessGrant.partner_account_id == CustomerRelationship.partner_account_id,
            DelegatedAccessGrant.source == GrantSource.relationship,
        ),
    )
    .where(CustomerRelationship.customer_tenant_id == bindparam("customer"))
    .order_by(DelegatedAccessGrant.created_at, DelegatedAccessGrant.id),
    inline=True,
)


async def customer_record_dict(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID
) -> dict[str, Any] | None:
    """One active customer of the caller's with the caller's grants in its tenant, oldest
    first (a ``CustomerDetail``'s fields), in one query; None when there is no such
    customer."""
    rows = await _RECORD.all(session, mine=readable_by(principal), customer=customer_id)
    if not rows:
        return None
    first, now = rows[0], utcnow()
    me = {
        "id": first.my_id,
        "partner_id": first.my_partner_id,
        "company_name": first.my_company_name,
        "country": first.my_country,
    }
    access = [
        {
            "id": row.grant_id,
            "partner": me,
            "roles": row.roles,
            "created_at": row.granted_at,
            "expires_at": row.expires_at,
            "status": grant_status(row.grant_status, row.expires_at, now),
            "extension_requested_days": row.extension_days,
        }
        for row in rows
        if row.grant_id is not None
    ]
    return {**customer_dict(first), "access": access}


GRANT_LIST = TypeAdapter(list[GrantOut])


async def customer_record(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID
) -> tuple[CustomerOut, list[GrantOut]] | None:
    """``customer_record_dict`` as models: the customer and the caller's grants."""
    record = await customer_record_dict(session, principal, customer_id)
    if record is None:
        return None
    access = record.pop("access")
    return CustomerOut.model_validate(record), GRANT_LIST.validate_python(access)
