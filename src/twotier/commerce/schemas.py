from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from twotier.directory.schemas import Country
from twotier.kit.db import canonical_money
from twotier.partners.schemas import PartnerRef

Name = Annotated[str, Field(min_length=1, max_length=200)]
Unit = Literal["seat", "device", "user", "gb", "license", "instance"]
BillingCycle = Literal["monthly", "annual"]
Term = Literal["P1M", "P1Y"]


def _currency(value: str) -> str:
    value = value.strip().upper()
    if len(value) != 3 or not value.isalpha() or not value.isascii():
        raise ValueError("currency must be a three-letter ISO 4217 code, e.g. EUR")
    return value


def _price(value: Decimal) -> Decimal:
    if not value.is_finite() or value < 0:
        raise ValueError("unit_price must be a non-negative amount")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        raise ValueError("unit_price has at most four decimal places")
    if abs(value) >= Decimal(10) ** 14:
        raise ValueError("unit_price is too large")
    return canonical_money(value)


_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _decimal_string(value: object) -> object:
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise ValueError('unit_price must be a decimal string such as "12.50"')
    return value


Currency = Annotated[
    str, AfterValidator(_currency), WithJsonSchema({"type": "string", "pattern": "^[A-Za-z]{3}$"})
]
# Money is a Decimal end to end, a string ("12.50") in JSON both ways, never a float.
Amount = Annotated[
    Decimal,
    BeforeValidator(_decimal_string),
    AfterValidator(_price),
    WithJsonSchema(
        {"type": "string", "pattern": r"^[0-9]{1,14}(\.[0-9]{1,4})?$", "examples": ["375.50"]}
    ),
]


class SkuIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    unit: Unit = "seat"


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: str = Field("", max_length=2000)
    skus: list[SkuIn] = Field(min_length=1, max_length=50)


class SkuOut(BaseModel):
    id: uuid.UUID
    name: str
    unit: str


class ProductOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    skus: list[SkuOut]
    created_at: datetime


class PriceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    country: Country
    currency: Currency
    unit_price: Amount


class PriceOut(BaseModel):
    country: str
    currency: str
    unit_price: Decimal


class OfferCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku_id: uuid.UUID
    name: Name
    billing_cycle: BillingCycle
    term: Term
    prices: list[PriceIn] = Field(min_length=1, max_length=250)
    cancellation_window_days: int = Field(7, ge=0, le=365)
    min_quantity: int = Field(1, ge=1, le=1_000_000)
    max_quantity: int = Field(10_000, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _consistent(self) -> OfferCreate:
        if self.min_quantity > self.max_quantity:
            raise ValueError("min_quantity must not exceed max_quantity")
        countries = [p.country for p in self.prices]
        if len(set(countries)) != len(countries):
            raise ValueError("one price per country")
        return self


class OfferOut(BaseModel):
    id: uuid.UUID
    name: str
    product_id: uuid.UUID
    product_name: str
    sku_id: uuid.UUID
    sku_name: str
    unit: str
    billing_cycle: str
    term: str
    cancellation_window_days: int
    min_quantity: int
    max_quantity: int
    status: str
    prices: list[PriceOut]
    created_at: datetime


class CountryOfferOut(BaseModel):
    """An offer as a partner sees it for one country: one price."""

    id: uuid.UUID
    name: str
    product_id: uuid.UUID
    product_name: str
    sku_id: uuid.UUID
    sku_name: str
    unit: str
    billing_cycle: str
    term: str
    cancellation_window_days: int
    min_quantity: int
    max_quantity: int
    price: PriceOut


class LineItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offer_id: uuid.UUID
    quantity: int = Field(ge=1, le=1_000_000)
    partner_id_on_record: str = Field(min_length=1, max_length=20)


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_items: list[LineItemIn] = Field(min_length=1, max_length=50)
    attestation_accepted: StrictBool = False


class LineItemOut(BaseModel):
    line_number: int
    offer_id: uuid.UUID
    offer_name: str
    sku_id: uuid.UUID
    quantity: int
    partner_id_on_record: str
    unit_price: Decimal
    currency: str
    amount: Decimal
    subscription_id: uuid.UUID


class SubscriptionOut(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    order_id: uuid.UUID
    offer_id: uuid.UUID
    offer_name: str
    product_name: str
    sku_id: uuid.UUID
    sku_name: str
    quantity: int
    status: Literal["active", "suspended", "cancelled"]
    auto_renew: bool
    billing_cycle: str
    term: str
    unit_price: Decimal
    currency: str
    partner_id_on_record: str
    indirect_reseller: PartnerRef
    indirect_provider: PartnerRef
    created_at: datetime
    updated_at: datetime
    term_ends_at: datetime
    cancellable_until: datetime
    suspended_at: datetime | None
    cancelled_at: datetime | None
    etag: str


class OrderOut(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    status: str
    indirect_provider: PartnerRef
    line_items: list[LineItemOut]
    subscriptions: list[SubscriptionOut]
    attestation_accepted_at: datetime
    created_by_user_id: uuid.UUID
    created_at: datetime


class SubscriptionPatch(BaseModel):
    """Give at least one field; a field is left as it is by leaving it out (not by null)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    quantity: Annotated[int, Field(ge=1, le=1_000_000)] | SkipJsonSchema[None] = None
    status: Literal["active", "suspended", "cancelled"] | SkipJsonSchema[None] = None
    auto_renew: StrictBool | SkipJsonSchema[None] = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: object) -> object:
        if isinstance(data, dict) and any(value is None for value in data.values()):
            raise ValueError("leave a field out rather than sending null")
        return data

    @model_validator(mode="after")
    def _something(self) -> SubscriptionPatch:
        if self.quantity is None and self.status is None and self.auto_renew is None:
            raise ValueError("give at least one of quantity, status, auto_renew")
        return self


class LicenseOut(BaseModel):
    sku_id: uuid.UUID
    sku_name: str
    product_name: str
    total: int
    assigned: int
    available: int


class LicenseUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    add: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    remove: list[uuid.UUID] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _disjoint(self) -> LicenseUpdate:
        if set(self.add) & set(self.remove):
            raise ValueError("a SKU cannot be both added and removed")
        return self


class AssignedLicense(BaseModel):
    sku_id: uuid.UUID
    sku_name: str
    assigned_at: datetime


class UserLicensesOut(BaseModel):
    user_id: uuid.UUID
    licenses: list[AssignedLicense]
