"""Partner accounts, their profiles, partner roles, and the official provider list."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.directory.models import PartnerAccount, PartnerProgram, PartnerStatus, Program, User
from twotier.directory.principal import Permission, Principal
from twotier.events import service as events
from twotier.kit.errors import Forbidden, NotFound
from twotier.kit.pagination import PageParams, paginate
from twotier.partners.schemas import LegalProfile, PartnerOut, SupportProfile

if TYPE_CHECKING:
    from twotier.enrollment.models import Enrollment


async def partner_of_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> PartnerAccount | None:
    return await session.scalar(select(PartnerAccount).where(PartnerAccount.tenant_id == tenant_id))


async def programs_of(session: AsyncSession, partner_account_id: uuid.UUID) -> list[str]:
    rows = await session.scalars(
        select(PartnerProgram.program)
        .where(PartnerProgram.partner_account_id == partner_account_id)
        .order_by(PartnerProgram.program)
    )
    return list(rows)


async def add_program(
    session: AsyncSession, partner: PartnerAccount, program: str, at: datetime
) -> None:
    existing = await session.get(PartnerProgram, (partner.id, program))
    if existing is None:
        session.add(PartnerProgram(partner_account_id=partner.id, program=program, approved_at=at))
    await session.flush()


async def upsert_from_enrollment(
    session: AsyncSession, enrollment: Enrollment, at: datetime
) -> PartnerAccount:
    """Create the tenant's partner account on its first approval; add the program."""
    partner = await partner_of_tenant(session, enrollment.tenant_id)
    if partner is None:
        partner = PartnerAccount(
            id=uuid.uuid4(),
            tenant_id=enrollment.tenant_id,
            partner_id=enrollment.partner_id,
            company_name=enrollment.company_name,
            company_name_lower=enrollment.company_name.lower(),
            country=enrollment.country,
            status=PartnerStatus.active,
            legal_profile=dict(enrollment.legal_profile),
            primary_contact=dict(enrollment.primary_contact),
            support_profile=dict(enrollment.support_profile),
            approved_at=at,
        )
        session.add(partner)
        await session.flush()
    else:
        partner.support_profile = dict(enrollment.support_profile)
    await add_program(session, partner, enrollment.program, at)
    return partner


async def require_partner(session: AsyncSession, principal: Principal) -> PartnerAccount:
    if principal.partner_account_id is None:
        raise NotFound("Your tenant is not a partner yet.", code="not_a_partner")
    partner = await session.get(PartnerAccount, principal.partner_account_id)
    if partner is None:  # pragma: no cover — the principal was just resolved from it
        raise NotFound("Your tenant is not a partner yet.", code="not_a_partner")
    return partner


async def partner_out(session: AsyncSession, partner: PartnerAccount) -> PartnerOut:
    return PartnerOut(
        id=partner.id,
        partner_id=partner.partner_id,
        company_name=partner.company_name,
        country=partner.country,
        programs=await programs_of(session, partner.id),
        status=partner.status,
        legal_profile=partner.legal_profile,
        primary_contact=partner.primary_contact,
        support_profile=partner.support_profile,
        approved_at=partner.approved_at,
    )


def _require(principal: Principal, permission: Permission, detail: str) -> None:
    if not principal.can(permission):
        raise Forbidden(detail, code="insufficient_role")


async def update_support_profile(
    session: AsyncSession, principal: Principal, data: SupportProfile
) -> PartnerAccount:
    partner = await require_partner(session, principal)
    _require(
        principal,
        Permission.manage_partner_profile,
        "Global admins and admin agents change the partner profile.",
    )
    before = dict(partner.support_profile)
    partner.support_profile = data.model_dump(mode="json")
    await session.flush()
    await events.announce(
        session,
        principal,
        "partner_support_profile_updated",
        resource_type="partner_account",
        resource_id=partner.id,
        detail={"from": before, "to": partner.support_profile},
    )
    return partner


async def update_legal_profile(
    session: AsyncSession, principal: Principal, data: LegalProfile
) -> PartnerAccount:
    partner = await require_partner(session, principal)
    _require(
        principal,
        Permission.manage_partner_profile,
        "Global admins and admin agents change the partner profile.",
    )
    before = dict(partner.legal_profile)
    partner.legal_profile = data.model_dump(mode="json")
    partner.company_name = data.company_name
    partner.company_name_lower = data.company_name.lower()
    await session.flush()
    await events.announce(
        session,
        principal,
        "partner_legal_profile_updated",
        resource_type="partner_account",
        resource_id=partner.id,
        detail={"from": before, "to": partner.legal_profile},
    )
    return partner


async def list_partner_users(
    session: AsyncSession, principal: Principal, params: PageParams
) -> tuple[list[User], str | None]:
    await require_partner(session, principal)
    _require(principal, Permission.view_partner, "Your roles do not show the partner's users.")
    return await paginate(
        session,
        select(User).where(User.tenant_id == principal.tenant_id),
        keys=[User.created_at, User.id],
        params=params,
    )


async def list_providers(
    session: AsyncSession, country: str | None, q: str | None, params: PageParams
) -> tuple[list[PartnerAccount], str | None]:
    """The official provider list: approved indirect providers, by name."""
    stmt = (
        select(PartnerAccount)
        .join(PartnerProgram, PartnerProgram.partner_account_id == PartnerAccount.id)
        .where(
            PartnerProgram.program == Program.indirect_provider,
            PartnerAccount.status == PartnerStatus.active,
        )
    )
    if country:
        stmt = stmt.where(PartnerAccount.country == country.strip().upper())
    if q:
        stmt = stmt.where(
            PartnerAccount.company_name_lower.startswith(q.strip().lower(), autoescape=True)
        )
    return await paginate(
        session,
        stmt,
        keys=[PartnerAccount.company_name_lower, PartnerAccount.id],
        params=params,
    )
