"""Password hashing cost: production keeps RFC 9106's profile; the suite runs at the minimum."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import extract_parameters

from twotier.config import Settings
from twotier.kit import security


@pytest.fixture
def restore_test_cost() -> Iterator[None]:
    before = security.password_hash_parameters()
    yield
    time_cost, memory_kib, parallelism = before
    security.configure_password_hashing(
        time_cost=time_cost, memory_kib=memory_kib, parallelism=parallelism
    )


async def test_production_defaults_hash_with_rfc9106_low_memory_profile(
    monkeypatch: pytest.MonkeyPatch, restore_test_cost: None
) -> None:
    for name in (
        "TWOTIER_PASSWORD_HASH_TIME_COST",
        "TWOTIER_PASSWORD_HASH_MEMORY_KIB",
        "TWOTIER_PASSWORD_HASH_PARALLELISM",
    ):
        monkeypatch.delenv(name, raising=False)
    Settings(_env_file=None).apply_password_hashing()

    params = extract_parameters(await security.hash_password("correct horse battery"))

    assert (params.type.name, params.time_cost, params.memory_cost, params.parallelism) == (
        "ID",
        3,
        65536,
        4,
    )


async def test_hash_made_at_one_cost_verifies_at_another(restore_test_cost: None) -> None:
    strong = await security.hash_password("a long passphrase here")
    security.configure_password_hashing(time_cost=1, memory_kib=8, parallelism=1)
    weak = await security.hash_password("a long passphrase here")

    assert extract_parameters(weak).memory_cost == 8
    assert await security.verify_password(strong, "a long passphrase here")
    assert not await security.verify_password(strong, "another passphrase")
