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

_hasher = PasswordHasher()  # argon2id with the RFC 9106 low-memory profile
# Verified against when the email is unknown, so both answers take about the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


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
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
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
