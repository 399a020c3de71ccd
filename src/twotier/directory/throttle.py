"""Sign-in throttling after OWASP's "Slow Down Online Guessing Attacks with Device Cookies".

A browser that signed in before holds a *device cookie* (signed with SECRET_KEY, bound to
the user, with a nonce) and is judged only by that device's own failures. Every other
client is *untrusted*: it counts against its (account, address) cap and shares the
account's growing delay, which never exceeds a minute, so failures made by others cannot
lock the owner out while guesses stay bounded: with the defaults at most 74 in a clock hour
per account, 88 in any 60 minutes.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from twotier.config import Settings
from twotier.directory.models import User
from twotier.kit import ratelimit
from twotier.kit.clock import utcnow
from twotier.kit.errors import TooManyRequests
from twotier.kit.security import sign, verify_signature

DEVICE_COOKIE = "twotier_device"
DEVICE_COOKIE_MAX_AGE = 365 * 24 * 3600
DEVICE_PURPOSE = "device"
# The account-wide count of untrusted failures is kept per hour.
ACCOUNT_WINDOW_SECONDS = 3600
# The account's delay doubles from 1 s up to this, so nobody waits longer than a minute.
MAX_DELAY_SECONDS = 60


def device_cookie(settings: Settings, user_id: uuid.UUID) -> str:
    """A new device cookie for ``user_id``: ``<user id>.<nonce>.<HMAC>``."""
    value = f"{user_id}.{secrets.token_urlsafe(16)}"
    return f"{value}.{sign(settings.secret_key, value, DEVICE_PURPOSE)}"


def trusted_device(settings: Settings, cookie: str | None, user: User | None) -> str | None:
    """The nonce of ``cookie`` if it is a genuine device cookie of ``user``, else None."""
    if not cookie or not cookie.isascii() or user is None:  # compare_digest takes ASCII only
        return None
    user_id, _, rest = cookie.partition(".")
    nonce, _, mac = rest.partition(".")
    if not nonce or not verify_signature(
        settings.secret_key, f"{user_id}.{nonce}", DEVICE_PURPOSE, mac
    ):
        return None
    return nonce if user_id == str(user.id) else None


def set_device_cookie(response: Response, settings: Settings, user_id: uuid.UUID) -> None:
    # Sent only with the sign-in form (path, SameSite), never readable by scripts.
    response.set_cookie(
        DEVICE_COOKIE,
        device_cookie(settings, user_id),
        max_age=DEVICE_COOKIE_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=settings.is_production,
        path="/signin",
    )


def account_delay(failures: int, free: int) -> int:
    """Seconds an untrusted client waits after the account's latest failure."""
    if failures < free:
        return 0
    return min(MAX_DELAY_SECONDS, 1 << min(failures - free, 6))


def _key(kind: str, *parts: str) -> str:
    # Hashed: bounded length, and no emails or addresses in a second table.
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]
    return f"signin:{kind}:{digest}"


@dataclass(frozen=True)
class Attempt:
    """The counters a failure of this attempt adds to, and those its success clears."""

    counts: tuple[tuple[str, int], ...]
    clears: tuple[str, ...] = field(default=())


def _refuse(until: datetime, now: datetime) -> TooManyRequests:
    seconds = math.ceil((until - now).total_seconds())
    return TooManyRequests(
        seconds, f"Too many failed sign-ins; wait {max(1, seconds)} s, then try again."
    )


async def check(
    session: AsyncSession, settings: Settings, *, email: str, client: str, device: str | None
) -> Attempt:
    """Raise TooManyRequests while this attempt must wait (Retry-After: exactly how long).

    ``device`` is the nonce of a trusted device cookie (``trusted_device``) or None.
    """
    account_key = _key("account", email)
    # Held first: sign-ins to one account take turns, so the limits hold under concurrency.
    account = await ratelimit.hold(session, account_key, window_seconds=ACCOUNT_WINDOW_SECONDS)
    now = utcnow()
    window = settings.signin_window_seconds
    if device is not None:
        device_key = _key("device", device)
        own = await ratelimit.window(session, device_key, window_seconds=window)
        if own.count >= settings.signin_max_failures_per_device:
            raise _refuse(own.ends_at, now)
        return Attempt(counts=((device_key, window),))

    pair_key = _key("address", email, client)
    pair = await ratelimit.window(session, pair_key, window_seconds=window)
    until = now
    if pair.count >= settings.signin_max_failures_per_address:
        until = pair.ends_at
    delay = account_delay(account.count, settings.signin_free_failures_per_account)
    if delay and account.last_hit_at is not None:
        until = max(until, account.last_hit_at + timedelta(seconds=delay))
    if until > now:
        raise _refuse(until, now)
    return Attempt(
        counts=((account_key, ACCOUNT_WINDOW_SECONDS), (pair_key, window)), clears=(pair_key,)
    )


async def failed(session: AsyncSession, attempt: Attempt) -> None:
    for key, window_seconds in attempt.counts:
        await ratelimit.hit(session, key, window_seconds=window_seconds)


async def succeeded(session: AsyncSession, attempt: Attempt) -> None:
    """The address proved it knows the password: its own count restarts (the account's
    does not, so guesses stay bounded)."""
    for key in attempt.clears:
        await ratelimit.clear(session, key)
