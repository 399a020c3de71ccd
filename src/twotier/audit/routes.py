"""Reading the audit trail: each caller sees what it did and what was done in its tenant."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.audit.models import AuditRecord
from twotier.directory.auth import CurrentPrincipal
from twotier.directory.principal import Permission, Principal
from twotier.kit.clock import as_utc
from twotier.kit.deps import TransactionalRoute, get_session
from twotier.kit.errors import Forbidden
from twotier.kit.openapi import problems
from twotier.kit.pagination import Page, PageParams, page_params, paginate

router = APIRouter(prefix="/api/v1", tags=["audit"], route_class=TransactionalRoute)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso_8601(value: object) -> object:
    # pydantic would also take a number as a Unix time; the contract says ISO 8601.
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("must be an ISO 8601 date-time such as 2026-01-31T00:00:00Z")
    return value


Instant = Annotated[datetime, BeforeValidator(_iso_8601)]


class Actor(BaseModel):
    user_id: uuid.UUID | None
    tenant_id: uuid.UUID | None
    partner_id: str | None


class AuditRecordOut(BaseModel):
    id: uuid.UUID
    at: datetime
    operation: str
    actor: Actor
    on_behalf_of_customer_id: uuid.UUID | None
    resource_type: str
    resource_id: str | None
    detail: dict[str, Any]
    seq: int | None = Field(None, description="Place in the hash chain; null until sealed.")
    content_hash: str | None
    chain_hash: str | None


def _out(r: AuditRecord) -> AuditRecordOut:
    return AuditRecordOut(
        id=r.id,
        at=r.at,
        operation=r.operation,
        actor=Actor(
            user_id=r.actor_user_id, tenant_id=r.actor_tenant_id, partner_id=r.actor_partner_id
        ),
        on_behalf_of_customer_id=r.on_behalf_of_customer_id,
        resource_type=r.resource_type,
        resource_id=r.resource_id,
        detail=r.detail,
        seq=r.seq,
        content_hash=r.content_hash,
        chain_hash=r.chain_hash,
    )


async def list_records(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    operation: str | None = None,
    resource_type: str | None = None,
    newest_first: bool = False,
) -> tuple[list[AuditRecord], str | None]:
    """The operator sees everything; anyone else what its tenant did and what was done in it
    (a customer sees its partners' delegated actions)."""
    if not principal.can(Permission.view_activity_log):
        raise Forbidden(
            "Global admins and admin agents read the activity log.", code="insufficient_role"
        )
    since, until = (None if d is None else as_utc(d) for d in (since, until))
    # Records the sealer refused were not written by twotier: `audit verify` names them.
    stmt = select(AuditRecord).where(AuditRecord.refused_at.is_(None))
    if not principal.is_operator:
        stmt = stmt.where(
            or_(
                AuditRecord.actor_tenant_id == principal.tenant_id,
                AuditRecord.subject_tenant_id == principal.tenant_id,
            )
        )
    if since is not None:
        stmt = stmt.where(AuditRecord.at >= since)
    if until is not None:
        stmt = stmt.where(AuditRecord.at < until)
    if operation:
        stmt = stmt.where(AuditRecord.operation == operation)
    if resource_type:
        stmt = stmt.where(AuditRecord.resource_type == resource_type)
    return await paginate(
        session,
        stmt,
        keys=[AuditRecord.at, AuditRecord.id],
        params=params,
        descending=newest_first,
    )


@router.get(
    "/audit-records",
    response_model=Page[AuditRecordOut],
    responses=problems(403),
    summary="Who did what, for whom, on behalf of which customer (oldest first by default)",
)
async def audit_records(
    principal: CurrentPrincipal,
    since: Instant | None = Query(None, description="ISO 8601, inclusive"),
    until: Instant | None = Query(None, description="ISO 8601, exclusive"),
    operation: str | None = Query(None),
    resource_type: str | None = Query(None),
    newest_first: bool = Query(False, description="Newest records first"),
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[AuditRecordOut]:
    rows, cursor = await list_records(
        session,
        principal,
        params,
        since=since,
        until=until,
        operation=operation,
        resource_type=resource_type,
        newest_first=newest_first,
    )
    return Page[AuditRecordOut](items=[_out(r) for r in rows], next_cursor=cursor)
