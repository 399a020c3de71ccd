"""The email to the operators when the sealer refuses audit records written by hand."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.audit.models import AuditRecord
from twotier.config import Settings
from twotier.directory.models import Tenant, TenantKind, User
from twotier.kit.email import queue_email
from twotier.kit.i18n import _

LISTED = 20  # records named in the email; `twotier audit verify` lists them all


async def operator_emails(session: AsyncSession) -> list[str]:
    """Every active user of the operator tenant."""
    rows = await session.scalars(
        select(User.email)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(Tenant.kind == TenantKind.operator, User.is_active.is_(True))
        .order_by(User.email)
    )
    return list(rows.all())


async def forged_records(
    session: AsyncSession, settings: Settings, records: Sequence[AuditRecord]
) -> int:
    """One email per operator for a batch of refused records; returns how many were queued."""
    lines = [f"  {r.id}  {r.at.isoformat(timespec='seconds')}  {r.operation}" for r in records]
    if len(lines) > LISTED:
        more = _("  ...and %(count)d more") % {"count": len(lines) - LISTED}
        lines = [*lines[:LISTED], more]
    body = _(
        "The audit sealer refused %(count)d audit record(s): their content hash does not "
        "match, so twotier did not write them (someone wrote to the audit_records table "
        "directly, or the records were written with another TWOTIER_AUDIT_KEY).\n\n"
        "They are marked refused and kept out of the hash chain. Run `twotier audit verify` "
        "to list every record altered, removed or inserted.\n\n"
        "%(records)s\n"
    ) % {"count": len(records), "records": "\n".join(lines)}
    subject = _("twotier: %(count)d audit record(s) refused") % {"count": len(records)}
    recipients = await operator_emails(session)
    for to in recipients:
        queue_email(session, settings, to=to, subject=subject, body=body)
    return len(recipients)
