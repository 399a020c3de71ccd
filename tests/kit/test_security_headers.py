"""Browser-facing headers on every answer: pages, API, errors; HSTS only in production."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests import html
from tests.factories import make_org
from twotier.app import create_app
from twotier.config import EmailBackend, Environment, Settings
from twotier.kit.db import Database

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "twotier" / "web" / "templates"


def assert_browser_headers(response: httpx.Response) -> None:
    csp = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in directives["script-src"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize(
    "path", ["/signin", "/invitations/not-a-real-token", "/enroll/verify?token=abc"]
)
async def test_pages_carry_the_headers_and_are_not_cached(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert_browser_headers(response)
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers


async def test_signed_in_pages_and_api_answers_are_not_cached(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    for path in ("/dashboard", "/api/v1/me", "/api/v1/tenant/users", "/api/v1/nope"):
        response = await client.get(path, headers=org.auth)
        assert response.headers["Cache-Control"] == "no-store", path
        assert_browser_headers(response)


async def test_static_assets_may_be_cached(client: httpx.AsyncClient) -> None:
    response = await client.get("/static/portal.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_hsts_only_in_production(settings: Settings, db: Database) -> None:
    production = settings.model_copy(
        update={
            "env": Environment.production,
            "secret_key": "p" * 40,
            "email_backend": EmailBackend.smtp,
        }
    )
    transport = httpx.ASGITransport(app=create_app(production, db=db))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        response = await c.get("/signin")
    assert "max-age=" in response.headers["Strict-Transport-Security"]
    assert_browser_headers(response)


async def test_api_docs_start_swagger_ui_without_inline_script(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/docs")
    assert response.status_code == 200
    assert "/static/api-docs.js" in html.attributes(response.text, "script", "src")
    assert not html.exists(response.text, "script:not([src])")
    script = await client.get("/static/api-docs.js")
    assert "/api/v1/openapi.json" in script.text
    assert_browser_headers(response)


def test_no_template_has_inline_script_or_event_handlers() -> None:
    """The CSP refuses inline script: a template with some would break in every browser."""
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=", re.IGNORECASE)
    offenders = [
        f"{path.name}: {match.group(0)}"
        for path in sorted(TEMPLATES.glob("*.html"))
        for match in inline.finditer(path.read_text())
    ]
    assert offenders == []
    assert any("data-confirm=" in p.read_text() for p in TEMPLATES.glob("*.html"))


async def test_confirmation_prompts_come_from_a_static_script(client: httpx.AsyncClient) -> None:
    page = await client.get("/signin")
    assert '<script src="/static/confirm.js"' in page.text
    script = await client.get("/static/confirm.js")
    assert "data-confirm" in script.text
