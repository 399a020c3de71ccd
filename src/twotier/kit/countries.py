"""ISO 3166-1 alpha-2 country codes, from Babel's CLDR data."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from babel import Locale
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

_NOT_COUNTRIES = frozenset({"EU", "EZ", "QO", "UN", "ZZ", "XA", "XB"})


@lru_cache
def country_names(locale: str = "en") -> dict[str, str]:
    territories = Locale.parse(locale).territories
    return {
        code: name
        for code, name in sorted(territories.items(), key=lambda item: item[1])
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    }


def is_country(code: str) -> bool:
    return code in country_names()


def normalize_country(value: str) -> str:
    code = value.strip().upper()
    if not is_country(code):
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


class CountryCode:
    """``Annotated[str, CountryCode]``: a country code, normalised; documented once, as the
    ``CountryCode`` schema every field that takes one refers to."""

    REF = "CountryCode"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(
            normalize_country, core_schema.str_schema(), ref=cls.REF
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        reference = handler(schema)
        named = handler.resolve_ref_schema(reference)
        named.clear()
        named.update(
            type="string",
            enum=sorted(country_names()),
            description="ISO 3166-1 alpha-2 (lowercase is accepted too).",
        )
        return reference


class CountryCodeText(CountryCode):
    """Documented as ``CountryCode`` but taken as it comes, for a handler that checks it
    itself (to answer with its own error code)."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.str_schema(ref=cls.REF)
