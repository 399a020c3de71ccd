"""Browser tests: a real ``twotier serve`` on its own database, driven by headless Chromium.

The server is a subprocess on a free port with a fresh database (a SQLite file, or a new
PostgreSQL database when ``TWOTIER_TEST_DATABASE_URL`` is set), so the browser goes
through everything a partner's browser does: the real HTTP server, cookies, CSRF, redirects.

Every server starts through ``serve_app``: the session's ``shared_server`` on an empty
database, and, for a module marked ``server("demo")`` or ``server("empty")``, a server of its
own (``demo_server`` seeded with ``twotier demo``, or ``empty_server``). ``live_server`` is the
base URL of whichever the module uses. The helpers the modules share (sign-up and
sign-in, opening a page from the navigation, screenshots, another browser profile) are here
too, so no test module imports from another.

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
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
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
DEMO_TIMEOUT_SECONDS = 120.0
LOG_TAIL_LINES = 200

SERVER_LOG = pytest.StashKey[Path]()
CALL_REPORT = pytest.StashKey[pytest.TestReport]()

expect.set_options(timeout=10_000)


# --- browser availability -----------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "server(kind): the module's browser tests use a server of its own, 'demo' (seeded "
        "with twotier demo) or 'empty', instead of the session's shared one",
    )


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


@dataclass(frozen=True)
class Server:
    base_url: str
    database_url: str


async def seed_demo(database_url: str, base_url: str, workdir: Path) -> None:
    """``twotier demo`` on the server's database, as a developer runs it."""
    process = await asyncio.create_subprocess_exec(
        str(TWOTIER),
        "demo",
        env=server_env(database_url, base_url),
        cwd=workdir,  # no stray .env file is read
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), DEMO_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"twotier demo did not finish within {DEMO_TIMEOUT_SECONDS:.0f} s")
    text = output.decode(errors="replace")
    if process.returncode != 0 or "Fabrikam authorized Contoso" not in text:
        pytest.fail(f"twotier demo exited with {process.returncode}:\n{text}", pytrace=False)


@contextlib.asynccontextmanager
async def serve_app(
    pg_base_url: str | None,
    workdir: Path,
    server_log: tuple[Path, IO[bytes]],
    *,
    demo: bool,
) -> AsyncIterator[Server]:
    """``twotier serve`` on a free port and a fresh database of its own (seeded with
    ``twotier demo`` when ``demo``); dropped again afterwards."""
    if not TWOTIER.exists():
        pytest.fail(f"{TWOTIER} is missing: install the project (make install)", pytrace=False)
    log_path, log_handle = server_log
    database_url = await create_database(pg_base_url, workdir)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    try:
        if demo:
            await seed_demo(database_url, base_url, workdir)
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
            yield Server(base_url, database_url)
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


SERVER_KINDS = ("demo", "empty")


@pytest.fixture(scope="session")
async def shared_server(
    pg_base_url: str | None,
    tmp_path_factory: pytest.TempPathFactory,
    server_log: tuple[Path, IO[bytes]],
) -> AsyncIterator[str]:
    """The session's server, on an empty database; yields the base URL."""
    workdir = tmp_path_factory.mktemp("live-db")
    async with serve_app(pg_base_url, workdir, server_log, demo=False) as server:
        yield server.base_url


@pytest.fixture(scope="module")
def live_server(request: pytest.FixtureRequest) -> str:
    """The base URL the module's browser tests open: the session's ``shared_server``, or for
    a module marked ``server("demo")`` / ``server("empty")`` its own ``demo_server`` /
    ``empty_server``."""
    marker = request.node.get_closest_marker("server")
    if marker is None:
        return str(request.getfixturevalue("shared_server"))
    (kind,) = marker.args
    if kind not in SERVER_KINDS:
        pytest.fail(f"server({kind!r}): the kinds are {', '.join(SERVER_KINDS)}", pytrace=False)
    server: Server = request.getfixturevalue(f"{kind}_server")
    return server.base_url


@pytest.fixture(scope="module")
async def demo_server(
    pg_base_url: str | None,
    tmp_path_factory: pytest.TempPathFactory,
    server_log: tuple[Path, IO[bytes]],
) -> AsyncIterator[Server]:
    """The module's own server, on a fresh database seeded with ``twotier demo``."""
    workdir = tmp_path_factory.mktemp("demo-live-db")
    async with serve_app(pg_base_url, workdir, server_log, demo=True) as server:
        yield server


@pytest.fixture(scope="module")
async def empty_server(
    pg_base_url: str | None,
    tmp_path_factory: pytest.TempPathFactory,
    server_log: tuple[Path, IO[bytes]],
) -> AsyncIterator[Server]:
    """The module's own server, on an empty database the module can also write to."""
    workdir = tmp_path_factory.mktemp("module-live-db")
    async with serve_app(pg_base_url, workdir, server_log, demo=False) as server:
        yield server


# --- Chromium -----------------------------------------------------------------------------


async def new_context(browser: Browser, base_url: str) -> BrowserContext:
    """A browser profile of its own: signed out, no cookies shared with any other."""
    ctx = await browser.new_context(
        base_url=base_url, viewport={"width": 1280, "height": 860}, locale="en-US"
    )
    ctx.set_default_timeout(10_000)
    return ctx


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
    ctx = await new_context(browser, live_server)
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


async def screenshot(page: Page, artifacts: Path, name: str) -> None:
    """The whole page, as ``test-artifacts/{name}.png``."""
    await page.screenshot(path=artifacts / f"{name}.png", full_page=True)


# --- the portal, as a person uses it ------------------------------------------------------

CREATED_NOTICE = "Your tenant is ready. Sign in with the global admin you just created."

# The demo world (``twotier demo``): Contoso is the indirect provider, Fabrikam its reseller.
DEMO_PASSWORD = "amber-kettle-drifts-north"
PROVIDER_EMAIL = "admin@contoso-distribution.example"
PROVIDER_NAME = "Contoso Distribution Ltd"
RESELLER_EMAIL = "admin@fabrikam.example"
RESELLER_NAME = "Fabrikam Cloud Resellers Ltd"
OPERATOR_EMAIL = "operator@twotier.example"


async def operator_auth(
    api: httpx.AsyncClient, email: str = OPERATOR_EMAIL, password: str = DEMO_PASSWORD
) -> dict[str, str]:
    """Bearer headers of an operator (only operators read the dev mailbox)."""
    response = await api.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@dataclass(frozen=True)
class NewTenant:
    organization: str
    domain: str
    country_code: str
    country: str
    name: str
    email: str
    password: str


def new_tenant() -> NewTenant:
    tag = uuid.uuid4().hex[:8]
    return NewTenant(
        organization=f"Fabrikam Cloud {tag}",
        domain=f"fabrikam-{tag}.example",
        country_code="NL",
        country="Netherlands",
        name="Anna de Vries",
        email=f"anna@fabrikam-{tag}.example",
        password="correct horse battery",
    )


async def fill_signup(page: Page, tenant: NewTenant, *, password: str | None = None) -> None:
    await page.get_by_label("Organization name", exact=True).fill(tenant.organization)
    await page.get_by_label("Domain", exact=True).fill(tenant.domain)
    await page.get_by_label("Country or region", exact=True).select_option(label=tenant.country)
    await page.get_by_label("Your name", exact=True).fill(tenant.name)
    await page.get_by_label("Your email", exact=True).fill(tenant.email)
    await page.get_by_label("Password", exact=True).fill(
        tenant.password if password is None else password
    )


async def sign_up(page: Page, tenant: NewTenant) -> None:
    """Create the tenant through the form; ends on the sign-in page."""
    await page.goto("/signup")
    await fill_signup(page, tenant)
    await page.get_by_role("button", name="Create tenant").click()
    await expect(page.get_by_role("status")).to_have_text(CREATED_NOTICE)


async def sign_in(page: Page, email: str, password: str) -> None:
    """Fill in and send the sign-in form the page shows."""
    await page.get_by_label("Email", exact=True).fill(email)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def go_sign_in(page: Page, email: str, password: str = DEMO_PASSWORD) -> None:
    """Open the sign-in page and sign in (by default as one of the demo's admins)."""
    await page.goto("/signin")
    await sign_in(page, email, password)


async def open_from_nav(page: Page, name: str) -> None:
    """Follow the main navigation's link ``name`` to the page of that title."""
    await page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(name)
