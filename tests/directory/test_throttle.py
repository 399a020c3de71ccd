"""Sign-in throttling: guessing stays bounded, yet others' failures never lock the owner out.

Addresses are played with the ASGI transport's client address; time moves with
``clock.travel``. The account's count is kept per hour (aligned to the clock), so tests
that follow a precise schedule start just after the hour.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.directory.test_portal_session import csrf_from, portal_sign_in
from tests.factories import Org, make_org
from twotier.app import create_app
from twotier.config import Settings
from twotier.directory.auth import SESSION_COOKIE
from twotier.directory.models import User
from twotier.directory.throttle import (
    DEVICE_COOKIE,
    MAX_DELAY_SECONDS,
    device_cookie,
    trusted_device,
)
from twotier.kit import clock
from twotier.kit.db import Database

TOKEN = "/api/v1/auth/token"


@asynccontextmanager
async def at(app: Any, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from ``address`` (the socket's peer)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def start_of_hour() -> None:
    """Move the clock to just after the next full hour (and so the next 15-minute window)."""
    clock.travel(3600 - clock.utcnow().timestamp() % 3600 + 1)


async def attack(app: Any, email: str, failures: int) -> list[datetime]:
    """Guess as fast as the throttle allows, a new address each time; when each guess failed."""
    times: list[datetime] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        while len(times) < failures:
            n = len(times) + 1
            transport.client = (f"198.51.{n // 250}.{n % 250 + 1}", 40_000)
            response = await c.post(TOKEN, json={"email": email, "password": "guess-guess"})
            if response.status_code == 429:
                clock.travel(int(response.headers["Retry-After"]))
                continue
            assert response.status_code == 401
            times.append(clock.utcnow())
    return times


def most_in_one_hour(times: list[datetime]) -> int:
    return max(sum(1 for t in times if start <= t < start + timedelta(hours=1)) for start in times)


async def test_an_attack_from_many_addresses_is_held_to_a_hundred_guesses_an_hour(
    app: Any, client: httpx.AsyncClient
) -> None:
    org = await make_org(client)
    times = await attack(app, org.email, 200)
    # 10 free, then 1 s doubling to 60 s: about 75 an hour, ~90 across a window's edge.
    assert 60 <= most_in_one_hour(times) <= 100
    assert times[-1] - times[0] > timedelta(hours=2)


async def test_after_an_attack_the_owner_signs_in_on_the_api_from_a_clean_address_within_a_minute(
    app: Any, client: httpx.AsyncClient
) -> None:
    org = await make_org(client)
    start_of_hour()
    await attack(app, org.email, 200)
    owner = {"email": org.email, "password": org.password}
    async with at(app, "203.0.113.50") as clean:
        first = await clean.post(TOKEN, json=owner)
        assert first.status_code == 429
        assert first.json()["code"] == "rate_limited"
        wait = int(first.headers["Retry-After"])
        assert 0 < wait <= MAX_DELAY_SECONDS
        clock.travel(wait)
        after = await clean.post(TOKEN, json=owner)
    assert after.status_code == 200, after.text


async def sign_out(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/dashboard")
    response = await browser.post("/signout", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 303
    assert SESSION_COOKIE not in browser.cookies


@asynccontextmanager
async def known_browser(app: Any, org: Org) -> AsyncIterator[httpx.AsyncClient]:
    """The owner's browser: it signed in once (so holds a device cookie), then signed out."""
    async with at(app, "192.0.2.10") as browser:
        assert (await portal_sign_in(browser, org.email, org.password)).status_code == 303
        await sign_out(browser)
        assert browser.cookies.get(DEVICE_COOKIE)
        yield browser


async def test_after_an_attack_the_owner_signs_in_at_once_from_a_browser_with_its_device_cookie(
    app: Any, client: httpx.AsyncClient
) -> None:
    org = await make_org(client)
    async with known_browser(app, org) as browser:
        device = browser.cookies[DEVICE_COOKIE]
        start_of_hour()
        await attack(app, org.email, 200)
        async with at(app, "192.0.2.10") as other_browser:  # same address, no device cookie
            assert (await portal_sign_in(other_browser, org.email, org.password)).status_code == 429

        response = await portal_sign_in(browser, org.email, org.password)

        assert response.status_code == 303
        assert (await browser.get("/dashboard")).status_code == 200
        assert browser.cookies[DEVICE_COOKIE] != device  # a fresh nonce at every sign-in


async def test_the_device_cookie_is_signed_bound_to_the_user_http_only_and_long_lived(
    client: httpx.AsyncClient,
) -> None:
    org = await make_org(client)
    response = await portal_sign_in(client, org.email, org.password)
    header = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and DEVICE_COOKIE in v
    )
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert {"httponly", "max-age", "path", "samesite"} <= attributes
    assert "Path=/signin" in header
    assert "samesite=strict" in header.lower()
    assert int(header.split("Max-Age=")[1].split(";")[0]) >= 365 * 24 * 3600
    assert "Secure" not in header  # only in production (test_cookies_are_secure_in_production)
    user_id, nonce, mac = client.cookies[DEVICE_COOKIE].split(".")
    me = await client.get("/api/v1/me")
    assert user_id == me.json()["user"]["id"]
    assert len(nonce) >= 22
    assert len(mac) == 64


@pytest.mark.parametrize("forgery", ["tampered", "another_users"])
async def test_a_forged_or_foreign_device_cookie_counts_as_no_device_cookie(
    app: Any, client: httpx.AsyncClient, forgery: str
) -> None:
    org, other = await make_org(client), await make_org(client)
    async with known_browser(app, org) as browser:
        owner_device = browser.cookies[DEVICE_COOKIE]
    async with known_browser(app, other) as browser:
        other_device = browser.cookies[DEVICE_COOKIE]
    start_of_hour()
    await attack(app, org.email, 16)
    user_id, nonce, mac = owner_device.split(".")
    forged = {
        "tampered": f"{user_id}.{nonce[:-1]}{'A' if nonce[-1] != 'A' else 'B'}.{mac}",
        "another_users": other_device,
    }[forgery]
    async with at(app, "192.0.2.10") as browser:
        browser.cookies.set(DEVICE_COOKIE, forged, path="/signin")
        refused = await portal_sign_in(browser, org.email, org.password)
        browser.cookies.set(DEVICE_COOKIE, owner_device, path="/signin")
        accepted = await portal_sign_in(browser, org.email, org.password)
    assert refused.status_code == 429
    assert accepted.status_code == 303


@pytest.mark.parametrize("junk", ["", "x", "a.b", "a.b.c", "..", "\u00e9.b.c", "a.b.c.d"])
def test_a_malformed_device_cookie_is_no_device_cookie(settings: Settings, junk: str) -> None:
    user = User(id=uuid.uuid4())
    genuine = device_cookie(settings, user.id)
    assert trusted_device(settings, genuine, user) == genuine.split(".")[1]
    assert trusted_device(settings, junk, user) is None
    assert trusted_device(settings, f"{genuine}.{junk}", user) is None


async def test_a_device_cookie_that_fails_too_often_is_locked_out_on_its_own(
    app: Any, client: httpx.AsyncClient, settings: Settings
) -> None:
    org = await make_org(client)
    start_of_hour()
    async with known_browser(app, org) as browser:
        for _ in range(settings.signin_max_failures_per_device):
            assert (await portal_sign_in(browser, org.email, "wrong-password")).status_code == 401
        locked = await portal_sign_in(browser, org.email, org.password)
        assert locked.status_code == 429
        wait = int(locked.headers["Retry-After"])
        assert wait > MAX_DELAY_SECONDS  # until the device's window ends

        # The device's failures are its own: the API, even from its address, is not slowed.
        async with at(app, "192.0.2.10") as api:
            signed_in = await api.post(TOKEN, json={"email": org.email, "password": org.password})
        assert signed_in.status_code == 200

        clock.travel(wait)
        assert (await portal_sign_in(browser, org.email, org.password)).status_code == 303


async def test_the_accounts_delay_doubles_from_one_second_to_a_minute(
    app: Any, client: httpx.AsyncClient, settings: Settings
) -> None:
    org = await make_org(client)
    start_of_hour()
    free = settings.signin_free_failures_per_account
    waits: list[int] = []
    for i in range(free + 8):
        async with at(app, f"198.51.100.{i + 1}") as c:
            response = await c.post(TOKEN, json={"email": org.email, "password": "guess-guess"})
            assert response.status_code == 401
            again = await c.post(TOKEN, json={"email": org.email, "password": org.password})
        if i < free - 1:
            assert again.status_code == 200  # no delay before the free failures are used
            continue
        assert again.status_code == 429
        waits.append(int(again.headers["Retry-After"]))
        clock.travel(waits[-1])
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]


async def test_one_address_gets_a_limited_number_of_guesses_per_window_at_one_account(
    app: Any, client: httpx.AsyncClient, settings: Settings
) -> None:
    org = await make_org(client)
    start_of_hour()
    body = {"email": org.email, "password": "guess-guess"}
    async with at(app, "198.51.100.7") as guesser:
        failures = 0
        while failures < settings.signin_max_failures_per_address:
            response = await guesser.post(TOKEN, json=body)
            if response.status_code == 429:
                clock.travel(int(response.headers["Retry-After"]))
            else:
                failures += 1
        clock.travel(MAX_DELAY_SECONDS)
        refused = await guesser.post(TOKEN, json=body)
        assert refused.status_code == 429
        wait = int(refused.headers["Retry-After"])
        assert MAX_DELAY_SECONDS < wait <= settings.signin_window_seconds

        async with at(app, "203.0.113.50") as clean:  # another address is not held back
            owner = await clean.post(TOKEN, json={"email": org.email, "password": org.password})
        assert owner.status_code == 200

        clock.travel(wait)
        assert (await guesser.post(TOKEN, json=body)).status_code == 401


async def test_failures_at_other_accounts_do_not_block_an_address(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    for i in range(settings.signin_max_failures_per_address + 5):
        body = {"email": f"spray{i}@nowhere.example", "password": "guess-guess"}
        assert (await client.post(TOKEN, json=body)).status_code == 401
    org = await make_org(client)
    signed_in = await client.post(TOKEN, json={"email": org.email, "password": org.password})
    assert signed_in.status_code == 200


async def test_signing_in_restarts_the_addresss_own_count(
    app: Any, client: httpx.AsyncClient, settings: Settings
) -> None:
    org = await make_org(client)
    start_of_hour()
    wrong = {"email": org.email, "password": "nope-nope"}
    async with at(app, "198.51.100.7") as c:

        async def fail() -> None:
            while (response := await c.post(TOKEN, json=wrong)).status_code == 429:
                wait = int(response.headers["Retry-After"])
                assert wait <= MAX_DELAY_SECONDS  # the account's delay, never the address cap
                clock.travel(wait)
            assert response.status_code == 401

        for _ in range(settings.signin_max_failures_per_address - 1):
            await fail()
        clock.travel(MAX_DELAY_SECONDS)
        assert (await c.post(TOKEN, json={"email": org.email, "password": org.password})).is_success
        await fail()
        await fail()  # refused until the window ends, had the count not restarted


async def test_unknown_accounts_are_throttled_exactly_like_known_ones(
    app: Any, client: httpx.AsyncClient, settings: Settings
) -> None:
    org = await make_org(client)
    start_of_hour()
    answers: dict[str, list[tuple[int, Any, str | None]]] = {}
    for email in (org.email, "nobody@nowhere.example"):
        answers[email] = []
        for i in range(settings.signin_free_failures_per_account + 1):
            async with at(app, f"198.51.100.{i + 1}") as c:
                response = await c.post(TOKEN, json={"email": email, "password": "guess-guess"})
            answers[email].append(
                (response.status_code, response.json(), response.headers.get("Retry-After"))
            )
    known, unknown = answers.values()
    assert known == unknown
    assert [status for status, _, _ in known][-2:] == [401, 429]


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing(
    client: httpx.AsyncClient, settings: Settings, db: Database
) -> None:
    org = await make_org(client)
    start_of_hour()
    # Only the per-address cap in play: the account's delay would hide which address counted.
    app = create_app(settings.model_copy(update={"signin_free_failures_per_account": 1000}), db=db)
    body = {"email": org.email, "password": "guess-guess"}
    async with at(app, "198.51.100.7") as spoofer:
        for i in range(settings.signin_max_failures_per_address):
            forged = {"X-Forwarded-For": f"203.0.113.{i + 1}", "X-Real-IP": f"203.0.113.{i + 1}"}
            assert (await spoofer.post(TOKEN, json=body, headers=forged)).status_code == 401
        fresh = {"X-Forwarded-For": "203.0.113.200"}
        assert (await spoofer.post(TOKEN, json=body, headers=fresh)).status_code == 429
    async with at(app, "198.51.100.8") as honest:
        assert (await honest.post(TOKEN, json=body)).status_code == 401

    records = await client.get(
        "/api/v1/audit-records", params={"operation": "sign_in_failed"}, headers=org.auth
    )
    clients = {r["detail"]["client"] for r in records.json()["items"]}
    assert clients == {"198.51.100.7", "198.51.100.8"}


async def test_concurrent_guesses_take_turns_so_the_delay_holds(
    committed_client: httpx.AsyncClient, settings: Settings
) -> None:
    org = await make_org(committed_client)
    start_of_hour()
    wrong = {"email": org.email, "password": "guess-guess"}
    for _ in range(settings.signin_free_failures_per_account):
        assert (await committed_client.post(TOKEN, json=wrong)).status_code == 401
    clock.travel(1)  # the first delay has passed: one more guess is due, not eight

    answers = await asyncio.gather(*(committed_client.post(TOKEN, json=wrong) for _ in range(8)))

    assert sorted(r.status_code for r in answers) == [401] + [429] * 7
