"""Email through the outbox: a request queues a message in its transaction; ``twotier.mail``
delivers it (the dev mailbox or SMTP)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.kit.outbox import enqueue

EMAIL = "email"


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
