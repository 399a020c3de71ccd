"""The API contract, checked by a real client: Schemathesis against ``twotier serve``.

Usage: python contract/run.py [--database-url URL] [--max-examples N] [--seed N] [--only NAME]
(``TWOTIER_CONTRACT_DATABASE_URL`` and ``TWOTIER_CONTRACT_SEED`` set the first and the seed
too; the seed is fixed by default, so a failure CI reports is reproduced by running again).

Seeds the demo world once (``twotier db upgrade`` + ``twotier demo``), then for each of the
four principals (operator, provider admin agent, reseller admin agent, customer global admin)
serves a fresh copy of that world on a loopback port and runs Schemathesis over every
operation with ``contract/schemathesis.toml`` (what it checks and what it leaves out, and why,
are listed there). Any 5xx, undocumented status or content type, or response that breaks its
schema fails the run. Each principal gets its own copy so what one run deletes or revokes
cannot change what the next one sees.

``--database-url postgresql+asyncpg://user@host/db`` runs on PostgreSQL: the seeded world is a
new database there and each principal's copy is made from it as a template; all are dropped
afterwards. The default is a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from twotier.demo.seed import DEMO_PASSWORD, OPERATOR_EMAIL

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "schemathesis.toml"
BIN = Path(sys.executable).parent
TWOTIER = str(BIN / "twotier")
SCHEMATHESIS = str(BIN / "schemathesis")
SERVER_START_SECONDS = 60


@dataclass(frozen=True)
class Principal:
    name: str
    email: str
    # What GET /api/v1/me must show, so a run is known to act as the principal it names.
    roles: frozenset[str] = frozenset()
    partner_roles: frozenset[str] = frozenset()
    tenant_kind: str | None = None
    partner: bool | None = None


PRINCIPALS = (
    Principal("operator", OPERATOR_EMAIL, tenant_kind="operator"),
    Principal(
        "provider-admin-agent",
        "admin@contoso-distribution.example",
        partner_roles=frozenset({"admin_agent"}),
    ),
    Principal(
        "reseller-admin-agent", "admin@fabrikam.example", partner_roles=frozenset({"admin_agent"})
    ),
    Principal(
        "customer-global-admin",
        "admin@northwind.example",
        roles=frozenset({"global_admin"}),
        tenant_kind="organization",
        partner=False,
    ),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class World:
    """The seeded demo world, and fresh copies of it."""

    def __init__(self, tmp: Path, pg_base: str | None) -> None:
        self.tmp = tmp
        self.pg_base = pg_base
        self.databases: list[str] = []
        self.seed_url = self._new_url("seed")

    def _new_url(self, name: str) -> str:
        if self.pg_base is None:
            return f"sqlite+aiosqlite:///{self.tmp / f'{name}.db'}"
        database = f"twotier_contract_{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        self.databases.append(database)
        return make_url(self.pg_base).set(database=database).render_as_string(False)

    def seed(self, env: dict[str, str]) -> None:
        if self.pg_base is not None:
            _pg(self.pg_base, f'CREATE DATABASE "{make_url(self.seed_url).database}"')
        run_env = env | {"TWOTIER_DATABASE_URL": self.seed_url}
        for command in (["db", "upgrade"], ["demo"]):
            subprocess.run([TWOTIER, *command], env=run_env, cwd=self.tmp, check=True)

    def copy(self, name: str) -> str:
        url = self._new_url(name)
        if self.pg_base is None:
            shutil.copyfile(make_url(self.seed_url).database or "", make_url(url).database or "")
        else:
            seed, copy = make_url(self.seed_url).database, make_url(url).database
            _pg(self.pg_base, f'CREATE DATABASE "{copy}" TEMPLATE "{seed}"')
        return url

    def drop(self) -> None:
        if self.pg_base is None:
            return
        for database in self.databases:
            _pg(self.pg_base, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _pg(base_url: str, sql: str) -> None:
    import asyncpg

    async def execute() -> None:
        url = make_url(base_url).set(drivername="postgresql").render_as_string(False)
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(execute())


@contextlib.contextmanager
def serving(database_url: str, env: dict[str, str], log_path: Path) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_env = env | {"TWOTIER_DATABASE_URL": database_url, "TWOTIER_BASE_URL": base}
    with log_path.open("w+") as log:
        proc = subprocess.Popen(
            [TWOTIER, "serve", "--port", str(port)],
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=log_path.parent,
        )
        try:
            deadline = time.monotonic() + SERVER_START_SECONDS
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"twotier serve did not start:\n{log.read()}")
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def sign_in(base: str, principal: Principal) -> str:
    response = httpx.post(
        f"{base}/api/v1/auth/token",
        json={"email": principal.email, "password": DEMO_PASSWORD},
        timeout=10,
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    me = httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    me.raise_for_status()
    who = me.json()
    partner_roles = set((who.get("partner") or {}).get("partner_roles", []))
    if not (
        principal.roles <= set(who["user"]["roles"])
        and principal.partner_roles <= partner_roles
        and principal.tenant_kind in (None, who["tenant"]["kind"])
        and principal.partner in (None, who["partner"] is not None)
    ):
        raise RuntimeError(f"{principal.email} is not a {principal.name}: {who}")
    return token


def check(base: str, principal: Principal, args: argparse.Namespace, env: dict[str, str]) -> int:
    token = sign_in(base, principal)
    # DELETE /api/v1/auth/token revokes the token it presents: it gets a spare one.
    spare = sign_in(base, principal)
    command = [
        SCHEMATHESIS,
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{base}/api/v1/openapi.json",
        "--seed",
        str(args.seed),
    ]
    if args.max_examples is not None:
        command += ["--max-examples", str(args.max_examples)]
    run_env = env | {"TWOTIER_CONTRACT_TOKEN": token, "TWOTIER_CONTRACT_SPARE_TOKEN": spare}
    print(f"\n== Schemathesis as the {principal.name} ({principal.email}) ==", flush=True)
    # In the run's scratch folder, so nothing it writes lands in the work tree.
    return subprocess.run(command, env=run_env, cwd=args.scratch, check=False).returncode


def tail(path: Path, lines: int) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("TWOTIER_CONTRACT_DATABASE_URL"))
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument(
        "--seed", type=int, default=int(os.environ.get("TWOTIER_CONTRACT_SEED", "2026"))
    )
    parser.add_argument(
        "--only", choices=[p.name for p in PRINCIPALS], action="append", help="Repeatable."
    )
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOTIER_")}
    env |= {
        "TWOTIER_ENV": "development",
        # Nothing leaves the machine: no outbox worker delivers the webhooks and emails the
        # run causes (they stay queued in its throwaway database).
        "TWOTIER_OUTBOX_IN_PROCESS": "false",
        "TWOTIER_EMAIL_BACKEND": "mailbox",
        # Hashing at the minimum cost: the run signs in and creates users by the hundred.
        "TWOTIER_PASSWORD_HASH_TIME_COST": "1",
        "TWOTIER_PASSWORD_HASH_MEMORY_KIB": "8",
        "TWOTIER_PASSWORD_HASH_PARALLELISM": "1",
    }
    started = time.monotonic()
    failed: list[str] = []
    checked: list[str] = []
    with tempfile.TemporaryDirectory(prefix="twotier-contract-") as tmp_dir:
        args.scratch = tmp_dir
        world = World(Path(tmp_dir), args.database_url)
        try:
            world.seed(env)
            for principal in PRINCIPALS:
                if args.only and principal.name not in args.only:
                    continue
                checked.append(principal.name)
                url = world.copy(principal.name)
                log = Path(tmp_dir) / f"serve-{principal.name}.log"
                with serving(url, env, log) as base:
                    if check(base, principal, args, env) != 0:
                        failed.append(principal.name)
                if principal.name in failed:  # the server's side of it: tracebacks of any 5xx
                    print(f"\n-- twotier serve's log, last lines --\n{tail(log, 120)}")
        finally:
            world.drop()
    elapsed = time.monotonic() - started
    if failed:
        print(f"\nContract check FAILED for: {', '.join(failed)} ({elapsed:.0f} s)")
        return 1
    print(f"\nContract check passed for: {', '.join(checked)} ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
