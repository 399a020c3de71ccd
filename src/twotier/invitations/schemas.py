"""What invitations of every kind share: the draft email, the sending, what the link shows,
and the consent that accepts it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

Message = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=20000)]


class DraftEmail(BaseModel):
    to: str | None
    subject: str
    body: str


class SendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Subject | None = None
    body: Body | None = None


class SendOut(BaseModel):
    id: uuid.UUID
    to: str
    subject: str
    queued_at: datetime


class InvitationView(BaseModel):
    """What anyone holding the link sees, before deciding."""

    kind: str
    status: str
    from_: dict[str, Any] = Field(alias="from", serialization_alias="from")
    to: dict[str, Any]
    grants: list[dict[str, Any]]
    consent_text: str
    expires_at: datetime

    model_config = {"populate_by_name": True}


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    authorize: StrictBool = Field(description="The consent check box: must be true.")
