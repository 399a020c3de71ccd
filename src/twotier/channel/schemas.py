from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from twotier.directory.schemas import Email
from twotier.invitations.schemas import DraftEmail, Message
from twotier.membership.schemas import PartnerIdStr
from twotier.partners.schemas import PartnerRef


class ResellerInvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    message: Message | None = None
    partner_id: PartnerIdStr | None = Field(
        None, description="Only the partner with this partner ID may accept."
    )
    expires_in_days: int = Field(30, ge=1, le=90)


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


class GrantOut(BaseModel):
    id: uuid.UUID
    roles: list[str]
    expires_at: datetime
    status: str


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
