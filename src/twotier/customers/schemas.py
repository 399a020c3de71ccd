from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from twotier.directory.roles import DirectoryRole
from twotier.directory.schemas import Email
from twotier.invitations.schemas import DraftEmail, Message
from twotier.partners.schemas import PartnerRef

DEFAULT_ROLES = (
    DirectoryRole.user_admin,
    DirectoryRole.license_admin,
    DirectoryRole.helpdesk_admin,
)
DEFAULT_DAYS = 365
MAX_DAYS = 730


class AccessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[DirectoryRole] = Field(default_factory=lambda: list(DEFAULT_ROLES), min_length=1)
    duration_days: int = Field(DEFAULT_DAYS, ge=1, le=MAX_DAYS)

    @field_validator("roles")
    @classmethod
    def _unique(cls, roles: list[DirectoryRole]) -> list[DirectoryRole]:
        return sorted(set(roles))


class CustomerInvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    message: Message | None = None
    access: AccessRequest = Field(default_factory=AccessRequest)
    expires_in_days: int = Field(30, ge=1, le=90)


class CustomerInvitationOut(BaseModel):
    id: uuid.UUID
    kind: Literal["two_tier", "direct"]
    status: str
    email: str | None
    message: str | None
    invite_url: str | None
    draft_email: DraftEmail | None
    indirect_provider: PartnerRef | None
    access: AccessRequest
    created_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    accepted_at: datetime | None
    accepted_by_customer_id: uuid.UUID | None
    revoked_at: datetime | None


class RelationshipOut(BaseModel):
    since: datetime
    kind: Literal["direct", "two_tier"]
    indirect_provider: PartnerRef | None = None
    indirect_reseller: PartnerRef | None = None


class CustomerOut(BaseModel):
    id: uuid.UUID
    company_name: str
    domain: str
    country: str
    relationship: RelationshipOut


class GrantOut(BaseModel):
    id: uuid.UUID
    partner: PartnerRef
    roles: list[str]
    created_at: datetime
    expires_at: datetime
    status: str
    extension_requested_days: int | None = Field(
        None, description="A pending request by the partner to extend, in days from approval."
    )


class DropRolesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[DirectoryRole] = Field(min_length=1)


class ExtensionRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duration_days: int = Field(ge=1, le=MAX_DAYS)


class CustomerDetail(CustomerOut):
    access: list[GrantOut]


class MyPartnerOut(BaseModel):
    partner: PartnerRef
    relationship: RelationshipOut
    access: list[GrantOut]
