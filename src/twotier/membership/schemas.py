from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from twotier.directory.schemas import Country, Name, Password

PartnerIdStr = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{7}$")]
MAX_ORGANIZATIONS = 50  # organization profiles per membership account

# The sign-in throttle keys on "membership:account:<username>" and holds 320 characters.
USERNAME_MAX = 300
Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, min_length=3, max_length=USERNAME_MAX),
]


class OrganizationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    legal_name: Name
    country: Country
    partner_id: PartnerIdStr | None = None


class MembershipCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Password
    organizations: list[OrganizationIn] = Field(min_length=1, max_length=MAX_ORGANIZATIONS)


class OrganizationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    partner_id: str
    legal_name: str
    country: str


class MembershipOut(BaseModel):
    id: uuid.UUID
    username: str
    created_at: datetime
    organizations: list[OrganizationOut]


class MembershipCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=USERNAME_MAX)
    ]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class LookupOrganization(OrganizationOut):
    eligible: bool
    reason: str | None = None


class LookupOut(BaseModel):
    organizations: list[LookupOrganization]
