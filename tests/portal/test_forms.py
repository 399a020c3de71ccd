"""Form validation messages are written for people."""

from __future__ import annotations

from twotier.directory.schemas import TenantCreate
from twotier.web.forms import parse


def test_signup_errors_are_plain_words() -> None:
    data, errors = parse(
        TenantCreate,
        {
            "display_name": "",
            "domain": "not a domain",
            "country": "",
            "admin.display_name": "Ada",
            "admin.email": "nope",
            "admin.password": "short",
        },
    )
    assert data is None
    assert errors == {
        "display_name": "This field is required.",
        "domain": "Enter a domain such as contoso.example.",
        "country": "This field is required.",
        "admin.email": "Enter a valid email address, such as name@contoso.example.",
        "admin.password": "Enter at least 8 characters.",
    }


def test_unknown_country_says_choose_one() -> None:
    _data, errors = parse(TenantCreate, {"country": "XX"})
    assert errors["country"] == "Choose a country or region."


def test_valid_form_parses_nested_fields() -> None:
    data, errors = parse(
        TenantCreate,
        {
            "display_name": "Contoso",
            "domain": "Contoso.Example",
            "country": "tw",
            "admin.display_name": "Ada",
            "admin.email": "Ada@Contoso.Example",
            "admin.password": "long-enough",
        },
    )
    assert errors == {}
    assert data is not None
    assert data.domain == "contoso.example"
    assert data.country == "TW"
    assert data.admin.email == "ada@contoso.example"
