from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, HttpUrl, StringConstraints, field_serializer

from twotier.directory.schemas import Country, Email, Name

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptText200 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Phone = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=5, max_length=40, pattern=r"^\+?[0-9][0-9 ()./-]{3,38}$"
    ),
]
PostalCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line1: Text200
    line2: OptText200 | None = None
    city: Text200
    state: OptText200 | None = None
    postal_code: PostalCode
    country: Country


class LegalProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_name: Name
    address: Address


class PrimaryContact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_name: Name
    last_name: Name
    email: Email
    phone: Phone


class SupportProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    phone: Phone | None = None
    website: HttpUrl | None = None

    @field_serializer("website")
    def _website(self, value: HttpUrl | None) -> str | None:
        return str(value) if value is not None else None


class PartnerOut(BaseModel):
    id: uuid.UUID
    partner_id: str
    company_name: str
    country: str
    programs: list[str]
    status: str
    legal_profile: dict[str, Any]
    primary_contact: dict[str, Any]
    support_profile: dict[str, Any]
    approved_at: datetime | None


class ProviderOut(BaseModel):
    id: uuid.UUID
    partner_id: str
    company_name: str
    country: str
    support_profile: dict[str, Any]


class PartnerUserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str
    roles: list[str]
    partner_roles: list[str]
    is_active: bool


# A partner as others see it: ``PartnerRef.model_validate(account)`` from its row.
class PartnerRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    partner_id: str
    company_name: str
    country: str
