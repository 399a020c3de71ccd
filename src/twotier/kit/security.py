"""Passwords (argon2id) and opaque tokens (random, stored as SHA-256, compared in constant time)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 256
TOKEN_BYTES = 32  # 256 bits

# argon2id with the RFC 9106 low-memory profile unless configured otherwise (tests use the
# minimum cost through the same settings; production keeps these defaults).
DEFAULT_TIME_COST = 3
DEFAULT_MEMORY_KIB = 65536
DEFAULT_PARALLELISM = 4

_hasher = PasswordHasher(
    time_cost=DEFAULT_TIME_COST, memory_cost=DEFAULT_MEMORY_KIB, parallelism=DEFAULT_PARALLELISM
)
# Verified against when the email is unknown, so both answers take about the same time;
# made at the first unknown email, at the cost in force (not at import: start-up stays cheap).
_DUMMY_HASH: str | None = None


def configure_password_hashing(*, time_cost: int, memory_kib: int, parallelism: int) -> None:
    """Set the argon2id cost for every hash made from now on (process-wide, like a logger).

    Existing hashes carry their own parameters and keep verifying whatever the cost is.
    """
    global _hasher, _DUMMY_HASH  # one hasher per process, set at start-up
    current = _hasher
    if (current.time_cost, current.memory_cost, current.parallelism) == (
        time_cost,
        memory_kib,
        parallelism,
    ):
        return
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
    _DUMMY_HASH = None


def _dummy_hash() -> str:
    global _DUMMY_HASH  # made once per hasher
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
    return _DUMMY_HASH


def password_hash_parameters() -> tuple[int, int, int]:
    """(time cost, memory in KiB, parallelism) of the hasher in use."""
    return _hasher.time_cost, _hasher.memory_cost, _hasher.parallelism


def _hash_sync(password: str) -> str:
    return _hasher.hash(password)


def hash_password_blocking(password: str) -> str:
    """One argon2id hash in the calling thread (argon2 releases the GIL while it works).

    For callers that run many hashes at once in their own threads (the bulk importer);
    everything else awaits ``hash_password``.
    """
    return _hash_sync(password)


def _verify_sync(password_hash: str | None, password: str) -> bool:
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hash_sync, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Always does one full argon2 verification, even without a stored hash."""
    return await anyio.to_thread.run_sync(_verify_sync, password_hash, password)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def sign(secret_key: str, value: str, purpose: str) -> str:
    """An HMAC of ``value`` bound to one purpose (CSRF, cursors...)."""
    mac = hmac.new(secret_key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256)
    return mac.hexdigest()


def verify_signature(secret_key: str, value: str, purpose: str, signature: str) -> bool:
    return hmac.compare_digest(sign(secret_key, value, purpose), signature)
