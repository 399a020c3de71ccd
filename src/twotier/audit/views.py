"""Portal: the Activity log — who did what, for whom — filtered and paginated."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.audit.routes import list_records
from twotier.directory.principal import Principal
from twotier.kit.clock import as_utc
from twotier.kit.deps import TransactionalRoute, get_session
from twotier.kit.i18n import _
from twotier.kit.pagination import PageParams
from twotier.web.render import render, signed_in

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)

RESOURCE_TYPES = (
    "access_token",
    "customer",
    "delegated_access_grant",
    "enrollment",
    "invitation",
    "membership_account",
    "partner_account",
    "reseller_link",
    "tenant",
    "user",
    "webhook_endpoint",
)


def _day(value: str, name: str, errors: dict[str, str], *, end: bool = False) -> datetime | None:
    """A date (or a time) from the filter form; a date ``until`` includes that whole day."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        errors[name] = _("Enter a date such as 2026-11-24.")
        return None
    if end and len(value) == 10:
        parsed += timedelta(days=1)
    return as_utc(parsed)


@router.get("/activity")
async def activity_page(
    request: Request,
    since: str = Query(""),
    until: str = Query(""),
    operation: str = Query(""),
    resource_type: str = Query(""),
    cursor: str | None = Query(None),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    errors: dict[str, str] = {}
    start, end = _day(since, "since", errors), _day(until, "until", errors, end=True)
    rows, next_cursor = await list_records(
        session,
        principal,
        PageParams(limit=50, cursor=cursor),
        since=start,
        until=end,
        operation=operation.strip() or None,
        resource_type=resource_type or None,
        newest_first=True,
    )
    filters = {
        "since": since,
        "until": until,
        "operation": operation,
        "resource_type": resource_type,
    }
    return render(
        request,
        "activity.html",
        {
            "records": rows,
            "next_cursor": next_cursor,
            "filters": filters,
            "errors": errors,
            "resource_types": RESOURCE_TYPES,
        },
        principal=principal,
        section="activity",
    )
