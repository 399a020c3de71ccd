from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from twotier.membership.schemas import USERNAME_MAX, PartnerIdStr
from twotier.partners.schemas import LegalProfile, PrimaryContact, SupportProfile

ProgramName = Literal["indirect_reseller", "indirect_provider"]


class MembershipRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=USERNAME_MAX)
    ]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    partner_id: PartnerIdStr


class EnrollmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    program: ProgramName
    membership: MembershipRef | None = None
    legal_profile: LegalProfile | None = None
    primary_contact: PrimaryContact | None = None
    support_profile: SupportProfile


class EnrollmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tenant_id: uuid.UUID
    program: str
    status: str
    partner_id: str
    company_name: str
    country: str
    legal_profile: dict[str, Any]
    primary_contact: dict[str, Any]
    support_profile: dict[str, Any]
    shortcut: bool
    rejection_reason: str | None
    created_at: datetime
    verified_at: datetime | None
    decided_at: datetime | None


class VerifyEmailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class VerifyEmailOut(BaseModel):
    id: uuid.UUID
    status: str


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
