"""Licenses: per SKU, the seats of a customer's active subscriptions handed out to its users.

An assignment takes a seat with one conditional UPDATE (``assigned < total``) on the
(customer, SKU) pool row, so two concurrent requests cannot both take the last seat: the
second waits on the row lock (PostgreSQL) or the write lock (SQLite) and then finds none.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.access.service import act_for_customer
from twotier.commerce.models import LicenseAssignment, Product, SeatPool, Sku, Subscription
from twotier.commerce.schemas import AssignedLicense, LicenseOut, LicenseUpdate, UserLicensesOut
from twotier.commerce.service import customer_scope
from twotier.directory.access import user_in_tenant
from twotier.directory.models import PartnerAccount
from twotier.directory.principal import Permission, Principal
from twotier.directory.roles import DirectoryRole
from twotier.directory.service import before_user_removed
from twotier.events import service as events
from twotier.events.catalog import EventType
from twotier.kit.errors import Conflict, Forbidden, Invalid, NotFound


async def licenses(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID
) -> list[LicenseOut]:
    """Per SKU the customer has (or had) seats of: total, assigned, available."""
    await customer_scope(session, principal, customer_id)
    rows = (
        await session.execute(
            select(SeatPool.sku_id, SeatPool.total, SeatPool.assigned, Sku.name, Product.name)
            .join(Sku, Sku.id == SeatPool.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .where(SeatPool.customer_tenant_id == customer_id)
            .order_by(Product.name, Sku.name, SeatPool.sku_id)
            .execution_options(populate_existing=True)
        )
    ).all()
    return [
        LicenseOut(
            sku_id=sku_id,
            sku_name=sku_name,
            product_name=product_name,
            total=total,
            assigned=assigned,
            available=max(0, total - assigned),
        )
        for sku_id, total, assigned, sku_name, product_name in rows
    ]


async def _held(
    session: AsyncSession, where: ColumnElement[bool]
) -> dict[uuid.UUID, list[AssignedLicense]]:
    """The licenses matching ``where``, per user, by SKU name."""
    rows = (
        await session.execute(
            select(LicenseAssignment, Sku.name)
            .join(Sku, Sku.id == LicenseAssignment.sku_id)
            .where(where)
            .order_by(Sku.name)
        )
    ).all()
    out: dict[uuid.UUID, list[AssignedLicense]] = {}
    for assignment, sku_name in rows:
        out.setdefault(assignment.user_id, []).append(
            AssignedLicense(
                sku_id=assignment.sku_id, sku_name=sku_name, assigned_at=assignment.assigned_at
            )
        )
    return out


async def assignments(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID
) -> dict[uuid.UUID, list[AssignedLicense]]:
    """Each user's licenses in the customer's tenant (for the customer record's users list)."""
    await customer_scope(session, principal, customer_id)
    return await _held(session, LicenseAssignment.customer_tenant_id == customer_id)


async def user_licenses(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID, user_id: uuid.UUID
) -> UserLicensesOut:
    await customer_scope(session, principal, customer_id)
    await user_in_tenant(session, customer_id, user_id)
    return await _user_licenses(session, user_id)


async def _user_licenses(session: AsyncSession, user_id: uuid.UUID) -> UserLicensesOut:
    held = await _held(session, LicenseAssignment.user_id == user_id)
    return UserLicensesOut(user_id=user_id, licenses=held.get(user_id, []))


async def _may_manage(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID
) -> uuid.UUID | None:
    """The customer's own admins, or a partner acting under a license-admin grant.
    Returns the customer id to record as "on behalf of" (None for the customer itself)."""
    if principal.tenant_id == customer_id:
        if not principal.can(Permission.manage_licenses):
            raise Forbidden("Your roles do not manage licenses.", code="insufficient_role")
        return None
    if principal.partner_account_id is None:
        raise NotFound("No such customer.", code="customer_not_found")
    await act_for_customer(session, principal, customer_id, DirectoryRole.license_admin)
    return customer_id


async def update_user_licenses(
    session: AsyncSession,
    principal: Principal,
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
    data: LicenseUpdate,
) -> UserLicensesOut:
    on_behalf_of = await _may_manage(session, principal, customer_id)
    user = await user_in_tenant(session, customer_id, user_id)
    wanted = list(dict.fromkeys([*data.add, *data.remove]))
    skus = {s.id: s for s in await session.scalars(select(Sku).where(Sku.id.in_(wanted)))}
    for sku_id in wanted:
        if sku_id not in skus:
            raise Invalid(f"There is no SKU {sku_id}.", code="sku_not_found")

    added: list[Sku] = []
    for sku_id in dict.fromkeys(data.add):
        try:
            async with session.begin_nested():
                session.add(
                    LicenseAssignment(
                        id=uuid.uuid4(),
                        customer_tenant_id=customer_id,
                        user_id=user.id,
                        sku_id=sku_id,
                        assigned_by_user_id=principal.user_id,
                    )
                )
        except IntegrityError:
            continue  # already assigned: adding again changes nothing
        taken = await session.execute(
            update(SeatPool)
            .where(
                SeatPool.customer_tenant_id == customer_id,
                SeatPool.sku_id == sku_id,
                SeatPool.assigned < SeatPool.total,
            )
            .values(assigned=SeatPool.assigned + 1)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount == 0:  # type: ignore[attr-defined]
            raise Conflict(
                f"No {skus[sku_id].name} licenses are left; buy more seats or unassign one.",
                code="no_seats_available",
            )
        added.append(skus[sku_id])

    removed: list[Sku] = []
    for sku_id in dict.fromkeys(data.remove):
        gone = await session.execute(
            delete(LicenseAssignment)
            .where(LicenseAssignment.user_id == user.id, LicenseAssignment.sku_id == sku_id)
            .execution_options(synchronize_session=False)
        )
        if gone.rowcount:  # type: ignore[attr-defined]
            await _release(session, customer_id, [sku_id])
            removed.append(skus[sku_id])

    delegated = principal.tenant_id != customer_id
    for kind, changed in (
        (EventType.license_assigned, added),
        (EventType.license_unassigned, removed),
    ):
        if changed:
            audience = await _audience(session, customer_id, [s.id for s in changed])
            await events.announce(
                session,
                principal,
                kind.value,
                resource_type="user",
                resource_id=user.id,
                subject_tenant_id=customer_id,
                on_behalf_of_customer_id=customer_id if delegated else None,
                detail={"email": user.email, "skus": [s.name for s in changed]},
                tell=[
                    events.Tell(
                        kind,
                        resource_type="license",
                        resource_id=user.id,
                        resource_uri=f"/api/v1/customers/{customer_id}/users/{user.id}/licenses",
                        audience=audience,
                        data={
                            "user_id": str(user.id),
                            "skus": [{"id": str(s.id), "name": s.name} for s in changed],
                        },
                        on_behalf_of_customer_id=on_behalf_of,
                    )
                ],
            )
    await session.flush()
    return await _user_licenses(session, user.id)


async def _release(
    session: AsyncSession, customer_id: uuid.UUID, sku_ids: Sequence[uuid.UUID]
) -> None:
    for sku_id in sku_ids:
        await session.execute(
            update(SeatPool)
            .where(
                SeatPool.customer_tenant_id == customer_id,
                SeatPool.sku_id == sku_id,
                SeatPool.assigned > 0,
            )
            .values(assigned=SeatPool.assigned - 1)
            .execution_options(synchronize_session=False)
        )


async def _audience(
    session: AsyncSession, customer_id: uuid.UUID, sku_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """The customer, and the provider and reseller of the subscriptions behind these SKUs."""
    partner_tenants = await session.scalars(
        select(PartnerAccount.tenant_id)
        .where(
            PartnerAccount.id.in_(
                select(Subscription.provider_account_id)
                .where(
                    Subscription.customer_tenant_id == customer_id,
                    Subscription.sku_id.in_(sku_ids),
                )
                .union(
                    select(Subscription.reseller_account_id).where(
                        Subscription.customer_tenant_id == customer_id,
                        Subscription.sku_id.in_(sku_ids),
                    )
                )
            )
        )
        .order_by(PartnerAccount.tenant_id)
    )
    return [customer_id, *partner_tenants]


@before_user_removed
async def release_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Give back a departing user's seats (called before the user is deleted)."""
    rows = (
        await session.execute(
            select(LicenseAssignment.customer_tenant_id, LicenseAssignment.sku_id).where(
                LicenseAssignment.user_id == user_id
            )
        )
    ).all()
    await session.execute(
        delete(LicenseAssignment)
        .where(LicenseAssignment.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    for tenant_id, sku_id in rows:
        await _release(session, tenant_id, [sku_id])
