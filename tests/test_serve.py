"""`twotier serve --demo`: what `make serve` promises a newcomer, against a real process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from tests.conftest import create_database, drop_database
from twotier import cli
from twotier.config import Settings
from twotier.kit import migrate

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
    operator = httpx.post(
        f"{server}/api/v1/auth/token",
        json={"email": "operator@twotier.example", "password": "amber-kettle-drifts-north"},
    ).json()["access_token"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        items = httpx.get(
            f"{server}/api/v1/dev/mailbox",
            params={"to": "admin@live-mail.example"},
            headers={"Authorization": f"Bearer {operator}"},
        ).json()["items"]
        if items:
            assert "Live Mail Co" in items[0]["subject"]
            return
        time.sleep(0.2)
    pytest.fail("the welcome email never reached the dev mailbox")


def test_a_forwarded_for_header_from_loopback_is_not_believed_by_default(server: str) -> None:
    admin = {"email": "admin@fabrikam.example", "password": "amber-kettle-drifts-north"}
    wrong = admin | {"password": "not-the-password"}
    spoofed = {"X-Forwarded-For": "203.0.113.9"}
    assert httpx.post(f"{server}/api/v1/auth/token", json=wrong, headers=spoofed).status_code == 401
    token = httpx.post(f"{server}/api/v1/auth/token", json=admin).json()["access_token"]
    records = httpx.get(
        f"{server}/api/v1/audit-records",
        params={"operation": "sign_in_failed", "newest_first": "true"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["items"]
    assert records[0]["detail"]["client"] == "127.0.0.1"


async def _client_seen(options: dict[str, Any], peer: str) -> str:
    """The client address an app sees behind uvicorn configured with ``options``."""

    async def echo(scope: Any, _receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["client"][0].encode()})

    config = uvicorn.Config(
        echo,
        proxy_headers=options["proxy_headers"],
        forwarded_allow_ips=options["forwarded_allow_ips"],
        log_config=None,
    )
    config.load()
    transport = httpx.ASGITransport(app=config.loaded_app, client=(peer, 40_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        response = await c.get("/", headers={"X-Forwarded-For": "203.0.113.9"})
    return response.text


@pytest.mark.parametrize(
    ("allowed", "peer", "seen"),
    [
        ("", "127.0.0.1", "127.0.0.1"),
        ("", "10.1.2.3", "10.1.2.3"),
        ("10.0.0.0/8", "10.1.2.3", "203.0.113.9"),
        ("10.0.0.0/8", "127.0.0.1", "127.0.0.1"),
    ],
)
async def test_serve_believes_forwarded_headers_only_from_the_named_proxies(
    monkeypatch: pytest.MonkeyPatch, allowed: str, peer: str, seen: str
) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")  # uvicorn's own variable widens nothing
    settings = Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        forwarded_allow_ips=allowed,
        _env_file=None,
    )
    passed: dict[str, Any] = {}
    monkeypatch.setattr(cli, "_settings", lambda: settings)
    monkeypatch.setattr(migrate, "upgrade", lambda *_args: None)
    monkeypatch.setattr(uvicorn, "run", lambda *_args, **kwargs: passed.update(kwargs))

    cli.serve(host="127.0.0.1", port=8000, workers=1, worker_timeout=60, with_demo=False)

    assert passed["proxy_headers"] is bool(allowed)
    assert await _client_seen(passed, peer) == seen


def _workers(supervisor: int) -> list[int]:
    """The server processes uvicorn's supervisor started (not multiprocessing's helpers)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [
        int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def test_serve_with_two_workers_starts_both_and_each_answers(
    pg_base_url: str | None, tmp_path: Path
) -> None:
    """Each worker answers while the other is stopped (SIGSTOP): both serve."""
    if pg_base_url is None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'twotier.db'}"
    else:
        url = asyncio.run(create_database(pg_base_url, tmp_path))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOTIER_")}
    env |= {"TWOTIER_DATABASE_URL": url, "TWOTIER_OUTBOX_IN_PROCESS": "false"}
    if pg_base_url is not None:
        subprocess.run([TWOTIER, "db", "upgrade"], env=env, check=True, capture_output=True)
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen(
        [TWOTIER, "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while len(_workers(proc.pid)) < 2 or not _ready(base):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"twotier serve --workers 2 did not start:\n{log.read()}")
            time.sleep(0.2)
        workers = _workers(proc.pid)
        assert len(workers) == 2
        for answering, stopped in (workers, reversed(workers)):
            os.kill(stopped, signal.SIGSTOP)
            try:
                # A new connection each time: only the running worker can accept it.
                with httpx.Client(base_url=base, timeout=10) as client:
                    assert client.get("/readyz").json() == {"status": "ok"}
            finally:
                os.kill(stopped, signal.SIGCONT)
            assert answering in _workers(proc.pid)
        assert sorted(_workers(proc.pid)) == sorted(workers)  # neither was replaced
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if pg_base_url is not None:
            asyncio.run(drop_database(url, pg_base_url))


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_workers_get_a_minute_to_start_and_answer_the_health_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvicorn's own 5 s replaced slow-starting workers on a loaded machine, forever."""
    settings = Settings(database_url="sqlite+aiosqlite:///:memory:", _env_file=None)
    passed: dict[str, Any] = {}
    monkeypatch.setattr(cli, "_settings", lambda: settings)
    monkeypatch.setattr(migrate, "upgrade", lambda *_args: None)
    monkeypatch.setattr(uvicorn, "run", lambda *_args, **kwargs: passed.update(kwargs))
    cli.serve(host="127.0.0.1", port=8000, workers=2, worker_timeout=60, with_demo=False)
    assert (passed["workers"], passed["timeout_worker_healthcheck"]) == (2, 60)
    result = CliRunner().invoke(
        cli.app, ["serve", "--workers", "2"], env={"TWOTIER_WORKER_TIMEOUT_SECONDS": "240"}
    )
    assert result.exit_code == 0, result.output
    assert passed["timeout_worker_healthcheck"] == 240
