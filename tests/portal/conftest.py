"""Browser tests: a real ``twotier serve`` on its own database, driven by headless Chromium.

The server is a subprocess on a free port with a fresh database (a SQLite file, or a new
PostgreSQL database when ``TWOTIER_TEST_DATABASE_URL`` is set), so the browser goes
through everything a partner's browser does: the real HTTP server, cookies, CSRF, redirects.

Chromium is Debian's (``/usr/bin/chromium``). Without it the browser tests are skipped,
unless ``TWOTIER_REQUIRE_BROWSER=1`` (CI), when they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.conftest import create_database, drop_database

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REQUIRE_BROWSER_ENV = "TWOTIER_REQUIRE_BROWSER"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TWOTIER = Path(sys.executable).with_name("twotier")

STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
LOG_TAIL_LINES = 200

SERVER_LOG = pytest.StashKey[Path]()
CALL_REPORT = pytest.StashKey[pytest.TestReport]()

expect.set_options(timeout=10_000)


# --- browser availability -----------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture starts a server: skip (or, in CI, fail) without Chromium."""
    if item.get_closest_marker("browser") is None:
        return
    if os.access(CHROMIUM, os.X_OK):
        return
    reason = (
        f"{CHROMIUM} is missing: install Debian's chromium package "
        "(apt-get install chromium) to run the portal's browser tests"
    )
    if os.environ.get(REQUIRE_BROWSER_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_BROWSER_ENV}=1 requires them)", pytrace=False)
    pytest.skip(reason)


# --- the server's output, shown with every failing test that used it ----------------------


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    kept = text.splitlines()[-lines:]
    return f"(last {len(kept)} lines of {path})\n" + "\n".join(kept)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[CALL_REPORT] = report
    log = item.config.stash.get(SERVER_LOG, None)
    if report.failed and log is not None and "live_server" in getattr(item, "fixturenames", ()):
        report.sections.append(("live twotier server output", log_tail(log)))
    return report


# --- the live server ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def server_log(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[tuple[Path, IO[bytes]]]:
    path = tmp_path_factory.mktemp("live-server") / "server.log"
    with path.open("wb") as handle:
        pytestconfig.stash[SERVER_LOG] = path
        yield path, handle


def server_env(database_url: str, base_url: str) -> dict[str, str]:
    """The caller's environment without its TWOTIER_ settings, plus the server's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOTIER_")}
    env.update(
        TWOTIER_DATABASE_URL=database_url,
        TWOTIER_ENV="test",
        TWOTIER_BASE_URL=base_url,
        TWOTIER_WEBHOOKS_ALLOW_PRIVATE="true",  # webhook tests deliver to loopback
        PYTHONUNBUFFERED="1",
    )
    return env


async def wait_until_healthy(process: asyncio.subprocess.Process, base_url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    async with httpx.AsyncClient(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                pytest.fail(
                    f"twotier serve exited with {process.returncode} before answering "
                    f"/healthz (its output is below; all of it in {log})",
                    pytrace=False,
                )
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    pytest.fail(
        f"twotier serve did not answer {base_url}/healthz within "
        f"{STARTUP_TIMEOUT_SECONDS:.0f} s (its output is below; all of it in {log})",
        pytrace=False,
    )


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()


@pytest.fixture(scope="session")
async def live_server(
    pg_base_url: str | None,
    tmp_path_factory: pytest.TempPathFactory,
    server_log: tuple[Path, IO[bytes]],
) -> AsyncIterator[str]:
    """``twotier serve`` on a free port and a database of its own; yields the base URL."""
    if not TWOTIER.exists():
        pytest.fail(f"{TWOTIER} is missing: install the project (make install)", pytrace=False)
    log_path, log_handle = server_log
    workdir = tmp_path_factory.mktemp("live-db")
    database_url = await create_database(pg_base_url, workdir)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    try:
        process = await asyncio.create_subprocess_exec(
            str(TWOTIER),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            env=server_env(database_url, base_url),
            cwd=workdir,  # no stray .env file is read
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_handle,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await wait_until_healthy(process, base_url, log_path)
            yield base_url
            crashed = process.returncode
        finally:
            await stop(process)
        if crashed is not None:
            pytest.fail(
                f"twotier serve exited with {crashed} during the tests "
                f"(its output is below; all of it in {log_path})",
                pytrace=False,
            )
    finally:
        await drop_database(database_url, pg_base_url)


# --- Chromium -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def context(browser: Browser, live_server: str) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile per test: no cookies carried from one test to the next."""
    ctx = await browser.new_context(
        base_url=live_server, viewport={"width": 1280, "height": 860}, locale="en-US"
    )
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        await ctx.close()


@pytest.fixture
async def page(context: BrowserContext, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    tab = await context.new_page()
    yield tab
    report = request.node.stash.get(CALL_REPORT, None)
    if report is not None and report.failed and not tab.is_closed():
        ARTIFACTS.mkdir(exist_ok=True)
        with contextlib.suppress(Exception):
            await tab.screenshot(path=ARTIFACTS / f"failed-{request.node.name}.png", full_page=True)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Screenshots for humans (gitignored); the tests never compare pixels."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
