"""ISO 3166-1 alpha-2 country codes, from Babel's CLDR data."""

from __future__ import annotations

from functools import lru_cache

from babel import Locale

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
