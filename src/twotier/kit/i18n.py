"""gettext for words people read; catalogs under twotier/locale (none yet: English)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


@lru_cache
def translations(locale: str = "en") -> NullTranslations:
    return Translations.load(str(LOCALE_DIR), [locale])


def _(message: str) -> str:
    return translations().gettext(message)
