"""The reads the customer pages and endpoints answer with: the columns they show, one query
each. A read authorizes its caller and scopes to the caller's partner itself (Polar's
readable statements), so a route may call it directly; the service composes and changes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from twotier.customers.models import (
    CustomerRelationship,
    RelationshipKind,
    RelationshipStatus,
    Tier,
)
from twotier.customers.schemas import CustomerOut, RelationshipOut
from twotier.directory.models import PartnerAccount, Tenant
from twotier.directory.principal import Permission, Principal
from twotier.kit.errors import Forbidden
from twotier.kit.pagination import AnySelect, PageParams, paginate
from twotier.partners.schemas import PartnerRef

_other = aliased(PartnerAccount)

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


def relationship_out(
    kind: RelationshipKind, tier: Tier, since: datetime, other: PartnerRef | None
) -> RelationshipOut:
    """A relationship as its partner sees it: since when, direct or two-tier, and the other
    tier (the provider on a reseller's relationship, the reseller on a provider's)."""
    return RelationshipOut(
        since=since,
        kind="two_tier" if kind == RelationshipKind.two_tier else "direct",
        indirect_provider=other if tier == Tier.reseller else None,
        indirect_reseller=other if tier == Tier.provider else None,
    )


def customer_out(row: Row[Any]) -> CustomerOut:
    other = (
        PartnerRef(
            id=row.other_id,
            partner_id=row.other_partner_id,
            company_name=row.other_company_name,
            country=row.other_country,
        )
        if row.other_id is not None
        else None
    )
    return CustomerOut(
        id=row.tenant_id,
        company_name=row.display_name,
        domain=row.domain,
        country=row.country,
        relationship=relationship_out(row.kind, row.tier, row.created_at, other),
    )


def _customers_of(partner_account_id: uuid.UUID) -> AnySelect:
    return (
        select(*CUSTOMER_COLUMNS)
        .join(Tenant, Tenant.id == CustomerRelationship.customer_tenant_id)
        .outerjoin(_other, _other.id == CustomerRelationship.other_tier_account_id)
        .where(
            CustomerRelationship.partner_account_id == partner_account_id,
            CustomerRelationship.status == RelationshipStatus.active,
        )
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
    other_tier: uuid.UUID | None = None,
) -> tuple[list[CustomerOut], str | None]:
    """A page of the caller's active customers, oldest relationship first; ``q`` is a
    prefix of the name or the domain; ``other_tier`` keeps those shared with that partner."""
    stmt = _customers_of(readable_by(principal))
    if other_tier is not None:
        stmt = stmt.where(CustomerRelationship.other_tier_account_id == other_tier)
    if q:
        prefix = q.strip().lower()
        stmt = stmt.where(
            or_(
                func.lower(Tenant.display_name).startswith(prefix, autoescape=True),
                Tenant.domain.startswith(prefix, autoescape=True),
            )
        )
    rows, cursor = await paginate(
        session,
        stmt,
        keys=[CustomerRelationship.created_at, CustomerRelationship.id],
        params=params,
        scalars=False,
    )
    return [customer_out(row) for row in rows], cursor


async def customer_of(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID
) -> CustomerOut | None:
    """One active customer of the caller's, as a list row shows it; None when there is none."""
    row = (
        await session.execute(
            _customers_of(readable_by(principal)).where(
                CustomerRelationship.customer_tenant_id == customer_id
            )
        )
    ).first()
    return customer_out(row) if row is not None else None
