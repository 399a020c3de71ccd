"""Delivering queued email: SMTP (aiosmtplib), or the dev mailbox."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import aiosmtplib
from sqlalchemy import select

from twotier.config import EmailBackend, Settings
from twotier.kit.email import EMAIL
from twotier.kit.outbox import DeliveryContext, handler
from twotier.mail.models import MailboxMessage


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
