"""The dev mailbox API: mounted only while the mailbox email backend is on, and read only by a
signed-in operator (the messages carry sign-up, invitation and verification links)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.directory.auth import require
from twotier.directory.principal import Permission, Principal
from twotier.kit.deps import TransactionalRoute, get_session
from twotier.kit.pagination import Page, PageParams, page_params, paginate
from twotier.mail.models import MailboxMessage

router = APIRouter(prefix="/api/v1/dev", tags=["dev mailbox"], route_class=TransactionalRoute)


class MailboxItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    message_id: str
    to: str
    subject: str
    body: str
    sent_at: datetime


async def list_mailbox(
    session: AsyncSession, to: str | None, params: PageParams
) -> tuple[list[MailboxMessage], str | None]:
    stmt = select(MailboxMessage)
    if to:
        stmt = stmt.where(MailboxMessage.to == to.strip().lower())
    return await paginate(
        session, stmt, keys=[MailboxMessage.sent_at, MailboxMessage.id], params=params
    )


@router.get(
    "/mailbox",
    response_model=Page[MailboxItem],
    summary="Messages the dev mailbox holds (operator only)",
)
async def mailbox(
    _principal: Principal = require(Permission.operate_platform),
    to: str | None = Query(None, description="Only messages to this address"),
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[MailboxItem]:
    rows, cursor = await list_mailbox(session, to, params)
    return Page[MailboxItem](
        items=[MailboxItem.model_validate(m) for m in rows], next_cursor=cursor
    )
