"""The reads the grant lists answer with (the customer record, the customer's Partners
page). The services authorize."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.access.models import DelegatedAccessGrant, GrantSource
from twotier.directory.models import PartnerAccount


async def grants_of(
    session: AsyncSession, tenant_id: uuid.UUID, partner_ids: Sequence[uuid.UUID]
) -> list[tuple[DelegatedAccessGrant, PartnerAccount]]:
    """The relationship grants ``partner_ids`` hold in ``tenant_id``, oldest first."""
    if not partner_ids:
        return []
    rows = await session.execute(
        select(DelegatedAccessGrant, PartnerAccount)
        .join(PartnerAccount, PartnerAccount.id == DelegatedAccessGrant.partner_account_id)
        .where(
            DelegatedAccessGrant.tenant_id == tenant_id,
            DelegatedAccessGrant.partner_account_id.in_(partner_ids),
            DelegatedAccessGrant.source == GrantSource.relationship,
        )
        .order_by(DelegatedAccessGrant.created_at, DelegatedAccessGrant.id)
    )
    return [(g, p) for g, p in rows.all()]
