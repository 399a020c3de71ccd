from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, WithJsonSchema

from twotier.events.catalog import SUBSCRIBABLE

# What the server checks too (kit/ssrf.parse, service._check_events), stated in the schema.
Url = Annotated[
    str,
    Field(min_length=1, max_length=2000, description="http(s) URL; public only."),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 2000,
            "pattern": r"^\s*[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#@]",
        }
    ),
]
EventName = Annotated[str, WithJsonSchema({"type": "string", "enum": sorted(SUBSCRIBABLE)})]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    events: list[EventName] = Field(
        min_length=1, description="Event types from GET /webhook-events."
    )
    description: str | None = Field(None, max_length=200)


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    events: list[EventName] | None = Field(None, min_length=1)
    description: str | None = Field(None, max_length=200)
    enabled: StrictBool | None = Field(None, description="false disables; true enables again.")


class WebhookOut(BaseModel):
    id: uuid.UUID
    url: str
    description: str | None
    events: list[str]
    status: str
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    previous_secret_expires_at: datetime | None = Field(
        None, description="While set and in the future, the old secret still signs too."
    )


class WebhookSecretOut(WebhookOut):
    secret: str = Field(description="Shown once: the Standard Webhooks signing secret.")


class AttemptOut(BaseModel):
    id: uuid.UUID
    attempted_at: datetime
    status: str = Field(description="succeeded | failed")
    response_status: int | None
    duration_ms: int
    error: str | None


class DeliveryOut(BaseModel):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    kind: str = Field(description="event | test | replay")
    replay_of: uuid.UUID | None
    status: str = Field(description="pending | succeeded | failed | skipped")
    created_at: datetime
    next_attempt_at: datetime | None
    finished_at: datetime | None
    attempts: list[AttemptOut]


class EventTypeOut(BaseModel):
    type: str
    group: str
    resource_type: str
    description: str
    audience: str
    subscribable: bool
