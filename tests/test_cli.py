"""The `twotier` command, run as a real process against its own database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import create_database, drop_database
from twotier.app import create_app
from twotier.config import Settings
from twotier.directory.models import Tenant
from twotier.kit.db import Database

TWOTIER = str(Path(sys.executable).with_name("twotier"))


@pytest.fixture
def fresh_url(pg_base_url: str | None, tmp_path: Path) -> Iterator[str]:
    url = asyncio.run(create_database(pg_base_url, tmp_path))
    yield url
    asyncio.run(drop_database(url, pg_base_url))


def run(
    url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TWOTIER_")}
    full_env |= {"TWOTIER_DATABASE_URL": url, "TWOTIER_ENV": "test"} | (env or {})
    return subprocess.run(
        [TWOTIER, *args], env=full_env, capture_output=True, text=True, timeout=120, check=False
    )


async def _api(
    url: str, calls: list[tuple[str, str, dict[str, object] | None]]
) -> list[httpx.Response]:
    db = Database(url)
    settings = Settings(env="test", database_url=url, outbox_in_process=False, _env_file=None)
    transport = httpx.ASGITransport(app=create_app(settings, db=db))
    out: list[httpx.Response] = []
    headers: dict[str, str] = {}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for method, path, body in calls:
                response = await client.request(method, path, json=body, headers=headers)
                if path == "/api/v1/auth/token" and response.status_code == 200:
                    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
                out.append(response)
    finally:
        await db.dispose()
    return out


async def _count_tenants(url: str) -> int:
    db = Database(url)
    try:
        async with db.read_sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(Tenant)) or 0)
    finally:
        await db.dispose()


def test_operator_create_makes_an_operator_who_signs_in(fresh_url: str) -> None:
    made = run(
        fresh_url,
        "operator",
        "create",
        "--email",
        "Ops@Vendor.example",
        "--password",
        "ledger-night-owl-42",
    )
    assert made.returncode == 0, made.stderr
    me, tenants = asyncio.run(
        _api(
            fresh_url,
            [
                (
                    "POST",
                    "/api/v1/auth/token",
                    {"email": "ops@vendor.example", "password": "ledger-night-owl-42"},
                ),
                ("GET", "/api/v1/me", None),
                ("GET", "/api/v1/operator/tenants", None),
            ],
        )
    )[1:]
    assert me.json()["tenant"]["kind"] == "operator"
    assert tenants.status_code == 200
    assert [t["kind"] for t in tenants.json()["items"]] == ["operator"]


def test_second_operator_joins_the_same_operator_tenant(fresh_url: str) -> None:
    assert (
        run(
            fresh_url,
            "operator",
            "create",
            "--email",
            "a@vendor.example",
            "--password",
            "ledger-night-owl-42",
        ).returncode
        == 0
    )
    assert (
        run(
            fresh_url,
            "operator",
            "create",
            "--email",
            "b@vendor.example",
            "--password",
            "quill-ember-fjord-58",
        ).returncode
        == 0
    )
    assert asyncio.run(_count_tenants(fresh_url)) == 1


def test_operator_create_refuses_a_taken_email_and_a_short_password(fresh_url: str) -> None:
    ok = run(
        fresh_url,
        "operator",
        "create",
        "--email",
        "a@vendor.example",
        "--password",
        "ledger-night-owl-42",
    )
    assert ok.returncode == 0
    again = run(
        fresh_url,
        "operator",
        "create",
        "--email",
        "a@vendor.example",
        "--password",
        "ledger-night-owl-42",
    )
    assert again.returncode == 1
    assert "already" in again.stderr
    short = run(
        fresh_url, "operator", "create", "--email", "c@vendor.example", "--password", "short"
    )
    assert short.returncode == 2


def test_non_operators_get_403_on_the_operator_api(fresh_url: str) -> None:
    responses = asyncio.run(
        _api(
            fresh_url,
            [
                (
                    "POST",
                    "/api/v1/tenants",
                    {
                        "display_name": "Plain",
                        "domain": "plain.example",
                        "country": "TW",
                        "admin": {
                            "email": "a@plain.example",
                            "display_name": "A",
                            "password": "tidal-juniper-40",
                        },
                    },
                ),
                (
                    "POST",
                    "/api/v1/auth/token",
                    {"email": "a@plain.example", "password": "tidal-juniper-40"},
                ),
                ("GET", "/api/v1/operator/tenants", None),
            ],
        )
    )
    assert responses[-1].status_code == 403


def test_demo_seeds_once_and_prints_the_sign_ins(fresh_url: str) -> None:
    first = run(fresh_url, "demo")
    assert first.returncode == 0, first.stderr
    assert "operator@twotier.example" in first.stdout
    assert "amber-kettle-drifts-north" in first.stdout
    count = asyncio.run(_count_tenants(fresh_url))
    assert count >= 4
    second = run(fresh_url, "demo")
    assert second.returncode == 0
    assert "seeded" not in second.stdout
    assert asyncio.run(_count_tenants(fresh_url)) == count
    signed_in = asyncio.run(
        _api(
            fresh_url,
            [
                (
                    "POST",
                    "/api/v1/auth/token",
                    {"email": "admin@northwind.example", "password": "amber-kettle-drifts-north"},
                ),
            ],
        )
    )
    assert signed_in[0].status_code == 200


def test_db_upgrade_is_repeatable(fresh_url: str) -> None:
    assert run(fresh_url, "db", "upgrade").returncode == 0
    assert run(fresh_url, "db", "upgrade").returncode == 0


def test_production_refuses_the_default_secret_and_the_mailbox(fresh_url: str) -> None:
    default_secret = run(
        fresh_url,
        "db",
        "upgrade",
        env={"TWOTIER_ENV": "production", "TWOTIER_EMAIL_BACKEND": "smtp"},
    )
    assert default_secret.returncode == 2
    assert "SECRET_KEY" in default_secret.stderr
    mailbox = run(
        fresh_url,
        "db",
        "upgrade",
        env={"TWOTIER_ENV": "production", "TWOTIER_SECRET_KEY": "k" * 48},
    )
    assert mailbox.returncode == 2
    assert "EMAIL_BACKEND" in mailbox.stderr
    fine = run(
        fresh_url,
        "db",
        "upgrade",
        env={
            "TWOTIER_ENV": "production",
            "TWOTIER_SECRET_KEY": "k" * 48,
            "TWOTIER_EMAIL_BACKEND": "smtp",
        },
    )
    assert fine.returncode == 0, fine.stderr
