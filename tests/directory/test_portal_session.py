"""Portal sign-in over plain HTTP: CSRF on every form, cookie flags, session rotation."""

from __future__ import annotations

import re

import httpx

from tests.factories import make_org
from twotier.app import create_app
from twotier.config import Settings
from twotier.directory.auth import CSRF_COOKIE, SESSION_COOKIE
from twotier.kit.db import Database


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "form without a CSRF token"
    return match.group(1)


async def portal_sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    page = await client.get("/signin")
    return await client.post(
        "/signin",
        data={
            "email": email,
            "password": password,
            "csrf_token": csrf_from(page.text),
            "next": "/dashboard",
        },
    )


async def test_signin_sets_a_strict_session_cookie(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    response = await portal_sign_in(client, org.email, org.password)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    session_cookie = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=lax" in session_cookie or "samesite=lax" in session_cookie.lower()
    assert "Secure" not in session_cookie  # only in production
    dashboard = await client.get("/dashboard")
    assert dashboard.status_code == 200
    assert org.tenant["display_name"] in dashboard.text


async def test_form_without_csrf_token_is_refused(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    await client.get("/signin")
    response = await client.post("/signin", data={"email": org.email, "password": org.password})
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.cookies


async def test_csrf_token_from_another_browser_is_refused(
    client: httpx.AsyncClient, app: object
) -> None:
    org = await make_org(client)
    page = await client.get("/signin")
    token = csrf_from(page.text)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        await other.get("/signin")
        response = await other.post(
            "/signin", data={"email": org.email, "password": org.password, "csrf_token": token}
        )
    assert response.status_code == 403


async def test_signin_rotates_the_session_and_revokes_the_old_one(
    client: httpx.AsyncClient,
) -> None:
    org = await make_org(client)
    await portal_sign_in(client, org.email, org.password)
    first = client.cookies.get(SESSION_COOKIE)
    first_csrf = client.cookies.get(CSRF_COOKIE)
    form_page = await client.get("/signup")  # any page with a form gives a CSRF token
    response = await client.post(
        "/signin",
        data={
            "email": org.email,
            "password": org.password,
            "csrf_token": csrf_from(form_page.text),
        },
    )
    assert response.status_code == 303
    second = client.cookies.get(SESSION_COOKIE)
    assert second
    assert first
    assert second != first
    assert client.cookies.get(CSRF_COOKIE) != first_csrf
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, first)
    assert (await client.get("/dashboard")).status_code == 303


async def test_signout_ends_the_session(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    await portal_sign_in(client, org.email, org.password)
    held = client.cookies.get(SESSION_COOKIE)
    dashboard = await client.get("/dashboard")
    response = await client.post("/signout", data={"csrf_token": csrf_from(dashboard.text)})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin")
    client.cookies.set(SESSION_COOKIE, held or "")
    after = await client.get("/dashboard")
    assert after.status_code == 303
    assert after.headers["location"].startswith("/signin?next=")


async def test_protected_page_redirects_to_signin_with_next(client: httpx.AsyncClient) -> None:
    response = await client.get("/account/users")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Faccount%2Fusers"


async def test_next_is_never_an_open_redirect(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    page = await client.get("/signin")
    response = await client.post(
        "/signin",
        data={
            "email": org.email,
            "password": org.password,
            "csrf_token": csrf_from(page.text),
            "next": "//evil.example/phish",
        },
    )
    assert response.headers["location"] == "/dashboard"


async def test_wrong_password_in_the_portal_counts_toward_throttling(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    org = await make_org(client)
    for _ in range(settings.signin_free_failures_per_account):
        response = await portal_sign_in(client, org.email, "wrong-password")
        assert response.status_code == 401
        assert "incorrect" in response.text
    blocked = await portal_sign_in(client, org.email, org.password)
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "1"
    assert "Wait 1 s, then try again" in blocked.text


async def test_cookie_session_on_the_api_needs_the_csrf_header(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    await portal_sign_in(client, org.email, org.password)
    assert (await client.get("/api/v1/me")).status_code == 200
    body = {"email": f"x@{org.tenant['domain']}", "display_name": "X", "password": "long-enough-1"}
    refused = await client.post("/api/v1/tenant/users", json=body)
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    page = await client.get("/dashboard")
    accepted = await client.post(
        "/api/v1/tenant/users", json=body, headers={"X-CSRF-Token": csrf_from(page.text)}
    )
    assert accepted.status_code == 201


async def test_cookies_are_secure_in_production(database_url: str, db: Database) -> None:
    settings = Settings(
        env="production",
        database_url=database_url,
        secret_key="s" * 40,
        email_backend="smtp",
        outbox_in_process=False,
        _env_file=None,
    )
    app = create_app(settings, db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        org = await make_org(client)
        response = await portal_sign_in(client, org.email, org.password)
    cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    assert cookies
    assert all("Secure" in c for c in cookies)
