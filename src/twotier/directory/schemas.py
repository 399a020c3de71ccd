from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
)

from twotier.directory.principal import PartnerRole
from twotier.directory.roles import DirectoryRole
from twotier.kit.countries import CountryCode
from twotier.kit.security import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})+$")


def _domain(value: str) -> str:
    value = value.strip().lower().rstrip(".")
    if len(value) > 253 or not _DOMAIN_RE.match(value):
        raise ValueError("must be a domain name such as contoso.example")
    return value


def _lower(value: str) -> str:
    return value.strip().lower()


_DOMAIN_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
Domain = Annotated[
    str,
    AfterValidator(_domain),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 253,
            "pattern": rf"^{_DOMAIN_LABEL}(\.{_DOMAIN_LABEL})+$",
            "examples": ["contoso.example"],
        }
    ),
]
Country = Annotated[str, CountryCode]
Email = Annotated[EmailStr, AfterValidator(_lower)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Password = Annotated[
    str, StringConstraints(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)
]
# A password checked against the stored hash (any length it could have been set with).
GivenPassword = Annotated[str, StringConstraints(min_length=1, max_length=PASSWORD_MAX_LENGTH)]


class AdminIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    display_name: Name
    password: Password


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: Name
    domain: Domain
    country: Country
    admin: AdminIn


class TenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    display_name: str
    domain: str
    country: str


class TenantDetail(TenantOut):
    kind: str


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # No address is longer (RFC 5321); the sign-in throttle's key must fit its 320 characters.
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=PASSWORD_MAX_LENGTH)]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 — the OAuth token type, not a secret
    expires_in: int


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    display_name: Name
    password: Password
    roles: list[DirectoryRole] = Field(default_factory=list)


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: Name | None = None
    roles: list[DirectoryRole] | None = None
    is_active: StrictBool | None = None


class PasswordResetOut(BaseModel):
    user_id: uuid.UUID
    temporary_password: str
    # The user must replace it at the next sign-in, before this time.
    expires_at: datetime


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: GivenPassword
    new_password: Password


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str
    roles: list[str]
    is_active: bool
    created_at: datetime


class MeUser(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    roles: list[str]


class MePartner(BaseModel):
    id: uuid.UUID
    partner_id: str
    company_name: str
    country: str
    programs: list[str]
    partner_roles: list[str]


class MeOut(BaseModel):
    user: MeUser
    tenant: TenantDetail
    partner: MePartner | None


class PartnerRolesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partner_roles: list[PartnerRole]
