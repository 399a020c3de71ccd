from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.directory.principal import Principal
from twotier.kit.deps import TransactionalRoute, get_session
from twotier.kit.pagination import PageParams, page_params
from twotier.mail.routes import list_mailbox
from twotier.web.render import render, require_operator_page, signed_in

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)


@router.get("/dev/mailbox")
async def mailbox_page(
    request: Request,
    to: str | None = Query(None),
    params: PageParams = Depends(page_params),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    require_operator_page(principal)
    messages, next_cursor = await list_mailbox(session, to, params)
    return render(
        request,
        "mailbox.html",
        {"messages": messages, "next_cursor": next_cursor, "to": to},
        principal=principal,
        section="mailbox",
    )
