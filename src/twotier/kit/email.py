"""Email through the outbox; backends: the dev mailbox (stored) and SMTP (aiosmtplib)."""

from __future__ import annotations

import uuid
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
from sqlalchemy import Index, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from twotier.config import EmailBackend, Settings
from twotier.kit.clock import utcnow
from twotier.kit.db import Base, IdMixin
from twotier.kit.outbox import DeliveryContext, enqueue, handler

EMAIL = "email"


class MailboxMessage(IdMixin, Base):
    """A message 'sent' by the mailbox backend: what a developer reads at /dev/mailbox."""

    __tablename__ = "mailbox_messages"
    __table_args__ = (Index("ix_mailbox_messages_to_sent", "to", "sent_at", "id"),)

    message_id: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    to: Mapped[str] = mapped_column(String(320), nullable=False)
    subject: Mapped[str] = mapped_column(String(500), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    sent_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow, index=True)


def new_message_id(settings: Settings) -> str:
    host = urlsplit(settings.base_url).hostname or "twotier.localhost"
    return f"<{uuid.uuid4().hex}@{host}>"


def queue_email(
    session: AsyncSession, settings: Settings, *, to: str, subject: str, body: str
) -> str:
    """Send ``body`` to ``to`` once the caller's transaction commits; returns the Message-ID."""
    message_id = new_message_id(settings)
    enqueue(
        session,
        EMAIL,
        {"to": to, "subject": subject, "body": body, "message_id": message_id},
    )
    return message_id


def build_message(payload: dict[str, Any], settings: Settings) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.email_from
    message["To"] = payload["to"]
    message["Subject"] = payload["subject"]
    message["Message-ID"] = payload["message_id"]
    message["Date"] = formatdate(usegmt=True)
    message.set_content(payload["body"])
    return message


@handler(EMAIL)
async def deliver_email(payload: dict[str, Any], ctx: DeliveryContext) -> None:
    settings = ctx.settings
    if settings.email_backend is EmailBackend.smtp:
        await aiosmtplib.send(
            build_message(payload, settings),
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            start_tls=settings.smtp_starttls,
            use_tls=settings.smtp_tls,
            timeout=settings.smtp_timeout_seconds,
        )
        return
    async with ctx.db.write_sessions() as session, session.begin():
        # A retried delivery carries the same Message-ID: store it once.
        exists = await session.scalar(
            select(MailboxMessage.id).where(MailboxMessage.message_id == payload["message_id"])
        )
        if exists is None:
            session.add(
                MailboxMessage(
                    message_id=payload["message_id"],
                    to=payload["to"].lower(),
                    subject=payload["subject"],
                    body=payload["body"],
                )
            )
