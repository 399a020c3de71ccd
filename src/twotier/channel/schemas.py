from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from twotier.directory.schemas import Email
from twotier.membership.schemas import PartnerIdStr
from twotier.partners.schemas import PartnerRef

Message = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=20000)]


class ResellerInvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    message: Message | None = None
    partner_id: PartnerIdStr | None = Field(
        None, description="Only the partner with this partner ID may accept."
    )
    expires_in_days: int = Field(30, ge=1, le=90)


class DraftEmail(BaseModel):
    to: str | None
    subject: str
    body: str


class InvitationOut(BaseModel):
    id: uuid.UUID
    kind: str
    status: str
    email: str | None
    to_partner_id: str | None
    message: str | None
    invite_url: str | None = Field(
        description="The personalized link; shown to its sender while the invitation is pending."
    )
    draft_email: DraftEmail | None
    created_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    accepted_at: datetime | None
    accepted_by: PartnerRef | None = None
    revoked_at: datetime | None


class SendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Subject | None = None
    body: Body | None = None


class SendOut(BaseModel):
    id: uuid.UUID
    to: str
    subject: str
    queued_at: datetime


class GrantOut(BaseModel):
    id: uuid.UUID
    roles: list[str]
    expires_at: datetime
    status: str


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


class LinkOut(BaseModel):
    id: uuid.UUID = Field(description="The other side's partner account id.")
    link_id: uuid.UUID
    partner_id: str
    company_name: str
    country: str
    status: str
    since: datetime
    terminated_at: datetime | None = None
    access: GrantOut | None = None


class AcceptOut(BaseModel):
    kind: str
    status: str
    link: LinkOut | None = None
    relationships: list[dict[str, Any]] = []


LinkStatusFilter = Literal["active", "terminated"]
InvitationStatusFilter = Literal["pending", "accepted", "revoked", "expired"]
