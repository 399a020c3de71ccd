"""The audit-record writer every capability calls when it changes something."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.audit.chain import KEYED, content_of, hash_content, write_key
from twotier.audit.models import AuditRecord
from twotier.directory.principal import Permission, Principal
from twotier.kit.clock import utcnow


def record(
    session: AsyncSession,
    *,
    operation: str,
    resource_type: str,
    resource_id: uuid.UUID | str | None,
    actor: Principal | None = None,
    subject_tenant_id: uuid.UUID | None = None,
    on_behalf_of_customer_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
    actor_user_id: uuid.UUID | None = None,
    actor_tenant_id: uuid.UUID | None = None,
    request_id: str | None = None,
) -> AuditRecord:
    """Add one audit record to the caller's transaction (it lands only if the change does).

    Only an insert with the content's keyed hash: nothing shared is locked, so requests
    writing records never wait for each other; the sealer chains the record later.
    """
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "at": utcnow(),
        "operation": operation,
        "actor_user_id": actor.user_id if actor else actor_user_id,
        "actor_tenant_id": actor.tenant_id if actor else actor_tenant_id,
        "actor_partner_id": actor.partner_id if actor else None,
        "subject_tenant_id": subject_tenant_id
        or on_behalf_of_customer_id
        or (actor.tenant_id if actor else actor_tenant_id),
        "on_behalf_of_customer_id": on_behalf_of_customer_id,
        "resource_type": resource_type,
        "resource_id": str(resource_id) if resource_id is not None else None,
        "request_id": actor.request_id if actor else request_id,
        "detail": detail or {},
    }
    entry = AuditRecord(
        **fields,
        hash_version=KEYED,
        content_hash=hash_content(content_of(fields), key=write_key()),
    )
    session.add(entry)
    return entry


async def partner_actions_in(
    session: AsyncSession, principal: Principal, limit: int = 50
) -> list[AuditRecord]:
    """The latest things partners did in the caller's tenant on its behalf, newest first
    (for whoever decides on its partners)."""
    principal.demand(Permission.manage_partner_access)
    tenant_id = principal.tenant_id
    rows = await session.scalars(
        select(AuditRecord)
        .where(AuditRecord.on_behalf_of_customer_id == tenant_id, AuditRecord.refused_at.is_(None))
        .order_by(AuditRecord.at.desc(), AuditRecord.id.desc())
        .limit(limit)
    )
    return list(rows)
