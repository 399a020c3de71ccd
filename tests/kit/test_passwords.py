"""Password strength: zxcvbn's estimate with the user's own words, and its reasons."""

from __future__ import annotations

import hashlib

import pytest

from twotier.kit.passwords import (
    ESTIMATED_LENGTH,
    PasswordTooWeak,
    check_password,
    personal_words,
    weakness,
)

OLIVIA = personal_words(
    "olivia.chen@contoso.example", "Olivia Chen", "contoso.example", "Contoso Trading Ltd"
)
MADE_OF = "It is made of your email, your name"


def test_personal_words_are_the_values_their_local_part_and_their_words() -> None:
    assert {
        "olivia.chen@contoso.example",
        "olivia.chen",
        "olivia",
        "chen",
        "contoso",
        "example",
        "contoso trading ltd",
        "trading",
        "twotier",
    } <= set(OLIVIA)


@pytest.mark.parametrize("password", ["password123", "qwerty123456", "abc12345"])
def test_a_common_password_is_refused_with_zxcvbns_warning(password: str) -> None:
    assert weakness(password, []) == (
        "This is a very common password. Add another word or two. Uncommon words are better."
    )


def test_a_variation_of_a_common_password_is_refused_too() -> None:
    reason = weakness("Summer2024!", [])
    assert reason is not None
    assert reason.startswith("This is similar to a commonly used password.")


@pytest.mark.parametrize(
    "password",
    [
        "OliviaChen!",
        "olivia.chen@contoso.example",
        "contoso.example2026",
        "Contoso-Olivia-1",
        "ChenOlivia#42",
        "TwoTier2026!",
    ],
)
def test_a_password_made_of_the_users_own_words_is_refused(password: str) -> None:
    reason = weakness(password, OLIVIA)
    assert reason is not None
    assert reason.startswith(MADE_OF)


def test_the_same_password_is_fine_for_someone_else() -> None:
    assert weakness("contoso-amber-kettle-drifts", OLIVIA) is None  # words of its own too
    other = personal_words("ada@fabrikam.example", "Ada Admin", "fabrikam.example", "Fabrikam")
    assert weakness("Contoso-Olivia-Chen-1", other) is None
    assert weakness("Contoso-Olivia-Chen-1", OLIVIA) is not None


@pytest.mark.parametrize(
    "password",
    ["amber kettle drifts north", "correct horse battery", "tr0ub4dor&3-lantern", "x7#Qp9!L"],
)
def test_a_passphrase_of_ones_own_passes(password: str) -> None:
    assert weakness(password, OLIVIA) is None


def test_long_passwords_are_estimated_on_their_first_72_characters() -> None:
    strong = (hashlib.sha256(b"x").hexdigest() * 4)[:256]
    assert weakness(strong, OLIVIA) is None
    weak_start = "a" * ESTIMATED_LENGTH + strong
    assert weakness(weak_start, OLIVIA) is not None


def test_check_password_raises_422_password_too_weak_with_the_reason() -> None:
    with pytest.raises(PasswordTooWeak) as caught:
        check_password("password123", [])
    assert caught.value.status == 422
    assert caught.value.code == "password_too_weak"
    assert "very common password" in caught.value.detail
    check_password("amber kettle drifts north", [])
