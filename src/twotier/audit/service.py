"""The audit-record writer every change goes through (by ``events.announce``): the record,
its content and the content's keyed hash. Chaining, sealing and verifying are
``audit.chain``'s."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Required, TypedDict, Unpack

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.audit.models import AuditRecord
from twotier.config import get_settings
from twotier.directory.principal import Permission, Principal
from twotier.kit.clock import utcnow

# hash_version: how a record's content hash and chain hash are made.
LEGACY = 1  # plain SHA-256 (records sealed before keyed hashing)
KEYED = 2  # HMAC-SHA256 with the audit key


# The fields a record's content hash covers (changing them changes every hash).
CONTENT_FIELDS = (
    "id",
    "at",
    "operation",
    "actor_user_id",
    "actor_tenant_id",
    "actor_partner_id",
    "subject_tenant_id",
    "on_behalf_of_customer_id",
    "resource_type",
    "resource_id",
    "request_id",
    "detail",
)


def plain(value: Any) -> Any:
    """Times as ISO 8601 and ids as strings; everything else as it is."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def content_of(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The hashed content of a record whose ``CONTENT_FIELDS`` are in ``fields``."""
    return {name: plain(fields[name]) for name in CONTENT_FIELDS}


def record_content(record: AuditRecord) -> dict[str, Any]:
    return content_of({name: getattr(record, name) for name in CONTENT_FIELDS})


def digest(message: bytes, version: int, key: bytes) -> str:
    if version == KEYED:
        return hmac.new(key, message, hashlib.sha256).hexdigest()
    if version == LEGACY:
        return hashlib.sha256(message).hexdigest()
    raise ValueError(f"unknown audit hash version {version}")


def hash_content(content: dict[str, Any], *, version: int = KEYED, key: bytes) -> str:
    canonical = json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return digest(canonical.encode(), version, key)


_write_key: bytes | None = None


def use_key(key: bytes) -> None:
    """The key ``audit.record`` hashes new records with (the app sets it from its settings)."""
    global _write_key
    _write_key = key


def write_key() -> bytes:
    """The key set by ``use_key``, else the one the environment's settings give."""
    global _write_key
    if _write_key is None:
        _write_key = get_settings().audit_hash_key
    return _write_key


class AuditFields(TypedDict, total=False):
    """What an audit record says: ``record``'s and ``new_row``'s keywords."""

    operation: Required[str]
    resource_type: Required[str]
    resource_id: Required[uuid.UUID | str | None]
    actor: Principal | None
    subject_tenant_id: uuid.UUID | None
    on_behalf_of_customer_id: uuid.UUID | None
    detail: dict[str, Any] | None
    actor_user_id: uuid.UUID | None
    actor_tenant_id: uuid.UUID | None
    request_id: str | None


def record(session: AsyncSession, **what: Unpack[AuditFields]) -> AuditRecord:
    """Add one audit record to the caller's transaction (it lands only if the change does).

    Only an insert with the content's keyed hash: nothing shared is locked, so requests
    writing records never wait for each other; the sealer chains the record later.
    """
    entry = AuditRecord(**new_row(**what))
    session.add(entry)
    return entry


def new_row(**what: Unpack[AuditFields]) -> dict[str, Any]:
    """An audit record as ``record`` writes it, as every column's value (for an insert of
    its own, or an ``AuditRecord``)."""
    actor = what.get("actor")
    on_behalf = what.get("on_behalf_of_customer_id")
    resource_id = what["resource_id"]
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "at": utcnow(),
        "operation": what["operation"],
        "actor_user_id": actor.user_id if actor else what.get("actor_user_id"),
        "actor_tenant_id": actor.tenant_id if actor else what.get("actor_tenant_id"),
        "actor_partner_id": actor.partner_id if actor else None,
        "subject_tenant_id": what.get("subject_tenant_id")
        or on_behalf
        or (actor.tenant_id if actor else what.get("actor_tenant_id")),
        "on_behalf_of_customer_id": on_behalf,
        "resource_type": what["resource_type"],
        "resource_id": str(resource_id) if resource_id is not None else None,
        "request_id": actor.request_id if actor else what.get("request_id"),
        "detail": what.get("detail") or {},
    }
    return fields | {
        "hash_version": KEYED,
        "content_hash": hash_content(content_of(fields), key=write_key()),
        "seq": None,  # the sealer's, later
        "prev_hash": None,
        "chain_hash": None,
        "refused_at": None,
    }


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
