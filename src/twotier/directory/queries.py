"""The reads the caller's own pages answer with: the columns they show, one query each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.directory.models import PartnerAccount, Tenant
from twotier.directory.principal import Principal
from twotier.kit.fastread import Read

# Hot reads are built once, with bound parameters: building costs more than running.
_ME = Read(
    select(
        Tenant.display_name,
        Tenant.domain,
        Tenant.country,
        Tenant.kind,
        PartnerAccount.id.label("partner_account_id"),
        PartnerAccount.partner_id,
        PartnerAccount.company_name,
        PartnerAccount.country.label("partner_country"),
    )
    .outerjoin(PartnerAccount, PartnerAccount.tenant_id == Tenant.id)
    .where(Tenant.id == bindparam("tenant_id")),
    inline=True,
)


async def me_dict(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    """Who the caller is (a ``MeOut``'s fields): the principal's user, and its tenant and
    partner account (the principal holds their ids and programs, not their names)."""
    [row] = await _ME.all(session, tenant_id=principal.tenant_id)
    partner = (
        {
            "id": row.partner_account_id,
            "partner_id": row.partner_id,
            "company_name": row.company_name,
            "country": row.partner_country,
            "programs": sorted(principal.partner_programs),
            "partner_roles": sorted(principal.partner_roles),
        }
        if row.partner_account_id is not None
        else None
    )
    return {
        "user": {
            "id": principal.user_id,
            "email": principal.email,
            "display_name": principal.display_name,
            "roles": sorted(principal.roles),
        },
        "tenant": {
            "id": principal.tenant_id,
            "display_name": row.display_name,
            "domain": row.domain,
            "country": row.country,
            "kind": row.kind,
        },
        "partner": partner,
    }
