"""The dev mailbox: messages the mailbox backend 'sent', read by the operator."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from twotier.kit.clock import utcnow
from twotier.kit.db import Base, IdMixin


class MailboxMessage(IdMixin, Base):
    """A message 'sent' by the mailbox backend: what a developer reads at /dev/mailbox."""

    __tablename__ = "mailbox_messages"
    __table_args__ = (Index("ix_mailbox_messages_to_sent", "to", "sent_at", "id"),)

    message_id: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    to: Mapped[str] = mapped_column(String(320), nullable=False)
    subject: Mapped[str] = mapped_column(String(500), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    sent_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow, index=True)
