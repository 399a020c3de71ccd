"""`twotier serve --demo`: what `make serve` promises a newcomer, against a real process."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import create_database, drop_database

TWOTIER = str(Path(sys.executable).with_name("twotier"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(pg_base_url: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("serve")
    if pg_base_url is None:
        # The embedded default: serve creates and migrates the SQLite file itself.
        url = f"sqlite+aiosqlite:///{tmp / 'var' / 'twotier.db'}"
    else:
        url = asyncio.run(create_database(pg_base_url, tmp))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOTIER_")}
    env |= {
        "TWOTIER_DATABASE_URL": url,
        "TWOTIER_BASE_URL": base,
        "TWOTIER_OUTBOX_POLL_SECONDS": "60",
    }  # only the wake-up on commit delivers in time
    log = (tmp / "serve.log").open("w+")
    proc = subprocess.Popen(
        [TWOTIER, "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"twotier serve did not start:\n{log.read()}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if pg_base_url is not None:
            asyncio.run(drop_database(url, pg_base_url))


def test_health_portal_and_docs_answer(server: str) -> None:
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server}/readyz").status_code == 200
    home = httpx.get(f"{server}/")
    assert home.status_code == 200
    assert "Create a new tenant" in home.text
    assert httpx.get(f"{server}/api/docs").status_code == 200
    assert httpx.get(f"{server}/static/portal.css").status_code == 200


def test_demo_world_is_seeded_and_signs_in(server: str) -> None:
    for email in ("operator@twotier.example", "admin@fabrikam.example"):
        response = httpx.post(
            f"{server}/api/v1/auth/token",
            json={"email": email, "password": "amber-kettle-drifts-north"},
        )
        assert response.status_code == 200, email


def test_in_process_worker_delivers_email_right_after_commit(server: str) -> None:
    body = {
        "display_name": "Live Mail Co",
        "domain": "live-mail.example",
        "country": "TW",
        "admin": {
            "email": "admin@live-mail.example",
            "display_name": "Li",
            "password": "quill-ember-fjord-58",
        },
    }
    assert httpx.post(f"{server}/api/v1/tenants", json=body).status_code == 201
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        items = httpx.get(
            f"{server}/api/v1/dev/mailbox", params={"to": "admin@live-mail.example"}
        ).json()["items"]
        if items:
            assert "Live Mail Co" in items[0]["subject"]
            return
        time.sleep(0.2)
    pytest.fail("the welcome email never reached the dev mailbox")
