"""The reads the Indirect resellers / Indirect providers lists answer with: the columns they
show, one query a page. The service authorizes."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Row, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from twotier.access.models import DelegatedAccessGrant, grant_status
from twotier.channel.models import LinkStatus, ResellerLink, Side
from twotier.channel.schemas import GrantOut, LinkOut
from twotier.directory.models import PartnerAccount
from twotier.kit.clock import utcnow
from twotier.kit.pagination import PageParams, paginate


def sides(side: Side) -> tuple[InstrumentedAttribute[uuid.UUID], InstrumentedAttribute[uuid.UUID]]:
    """(my column, the other side's column) on ResellerLink for ``side``."""
    if side == Side.provider:
        return ResellerLink.provider_account_id, ResellerLink.reseller_account_id
    return ResellerLink.reseller_account_id, ResellerLink.provider_account_id


def linked(side: Side, mine: Any, other: Any) -> ColumnElement[bool]:
    """A condition for another query: ``mine`` has an active link with ``other``, on
    ``side`` (how a read authorizes by the link without a query of its own)."""
    my_column, other_column = sides(side)
    return (
        select(ResellerLink.id)
        .where(my_column == mine, other_column == other, ResellerLink.status == LinkStatus.active)
        .exists()
    )


def _link_out(row: Row[Any]) -> LinkOut:
    grant = (
        GrantOut(
            id=row.grant_id,
            roles=row.grant_roles,
            expires_at=row.grant_expires_at,
            status=grant_status(row.grant_status, row.grant_expires_at, utcnow()),
        )
        if row.grant_id is not None
        else None
    )
    return LinkOut(
        id=row.other_id,
        link_id=row.id,
        partner_id=row.partner_id,
        company_name=row.company_name,
        country=row.country,
        status=row.status,
        since=row.created_at,
        terminated_at=row.terminated_at,
        access=grant,
    )


async def link_page(
    session: AsyncSession,
    partner_account_id: uuid.UUID,
    side: Side,
    status: LinkStatus,
    params: PageParams,
) -> tuple[list[LinkOut], str | None]:
    """A page of the partner's links on ``side`` in ``status``, oldest first, with the other
    side's name and the access the link granted."""
    mine, other = sides(side)
    stmt = (
        select(
            ResellerLink.created_at,
            ResellerLink.id,
            ResellerLink.status,
            ResellerLink.terminated_at,
            PartnerAccount.id.label("other_id"),
            PartnerAccount.partner_id,
            PartnerAccount.company_name,
            PartnerAccount.country,
            DelegatedAccessGrant.id.label("grant_id"),
            DelegatedAccessGrant.roles.label("grant_roles"),
            DelegatedAccessGrant.expires_at.label("grant_expires_at"),
            DelegatedAccessGrant.status.label("grant_status"),
        )
        .join(PartnerAccount, PartnerAccount.id == other)
        .outerjoin(DelegatedAccessGrant, DelegatedAccessGrant.reseller_link_id == ResellerLink.id)
        .where(mine == partner_account_id, ResellerLink.status == status)
    )
    rows, cursor = await paginate(
        session,
        stmt,
        keys=[ResellerLink.created_at, ResellerLink.id],
        params=params,
        scalars=False,
    )
    return [_link_out(row) for row in rows], cursor
