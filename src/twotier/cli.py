"""The ``twotier`` command: serve, worker, db upgrade, operator create, membership import, demo."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
import uvicorn

from twotier.config import Settings, get_settings
from twotier.kit import migrate
from twotier.kit.clock import as_utc

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from twotier.audit.chain import Problem, VerifyResult

app = typer.Typer(
    help="twotier: a partner center for two-tier cloud distribution.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
operator_app = typer.Typer(help="Operator accounts.", no_args_is_help=True)
membership_app = typer.Typer(help="The partner-membership registry.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(operator_app, name="operator")
bench_app = typer.Typer(
    help="Benchmark worlds (see bench/ and BENCHMARKS.md).", no_args_is_help=True
)
app.add_typer(membership_app, name="membership")
app.add_typer(bench_app, name="bench")


def _prepare_sqlite_dir(settings: Settings) -> None:
    if settings.is_sqlite and ":///" in settings.database_url:
        path = settings.database_url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def _progress(console: Console) -> Progress:
    """Progress bars on stderr (none when it is not a terminal): a name, the bar, done of
    all, time spent and left."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=console, disable=not console.is_terminal)


def _settings() -> Settings:
    try:
        settings = get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        typer.secho(f"Configuration refused:\n{exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    settings.apply_password_hashing()
    return settings


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply pending migrations."""
    settings = _settings()
    _prepare_sqlite_dir(settings)
    migrate.upgrade(settings.database_url, revision)
    typer.echo("Database is up to date.")


def _print_demo(report: object) -> None:
    from twotier.demo.seed import DEMO_PASSWORD, SeedReport

    assert isinstance(report, SeedReport)  # noqa: S101 — narrowing for the type checker
    if report.created:
        typer.echo("Demo world seeded: " + ", ".join(report.created))
    typer.echo("Sign in with any of these (password: " + DEMO_PASSWORD + "):")
    for email, role in report.sign_ins:
        typer.echo(f"  {email:<40} {role}")
    if report.newcomer is not None:
        username, partner_id, legal_name = report.newcomer
        typer.echo(
            "To enroll a new partner: create a tenant in Taiwan at /signup, then enroll it "
            "with this membership sign-in:"
        )
        typer.echo(f"  username {username}, password {DEMO_PASSWORD}, partner ID {partner_id}")
        typer.echo(f"  ({legal_name})")
    if report.pending_invitation_url is not None:
        typer.echo(
            "Contoso's pending reseller invitation (open it, then sign in as a reseller's admin):"
        )
        typer.echo(f"  {report.pending_invitation_url}")
    for note in report.notes:
        typer.secho(note, fg=typer.colors.YELLOW, err=True)


async def _seed(settings: Settings, only_if_empty: bool) -> None:
    from twotier.demo.seed import is_empty, seed
    from twotier.kit.db import Database

    db = Database(settings.database_url)
    try:
        if only_if_empty and not await is_empty(db):
            typer.echo("Database is not empty: demo world not seeded (run `twotier demo`).")
            return
        _print_demo(await seed(db, settings))
    finally:
        await db.dispose()


@app.command()
def demo() -> None:
    """Seed the demo world (idempotent) and print the sign-ins."""
    settings = _settings()
    asyncio.run(_seed(settings, only_if_empty=False))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PORT", help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
    worker_timeout: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="TWOTIER_WORKER_TIMEOUT_SECONDS",
            help="With --workers: how long a worker may take to start, or to answer the "
            "supervisor's health check, before it is replaced.",
        ),
    ] = 60,
    with_demo: Annotated[
        bool, typer.Option("--demo", help="Seed the demo world if the database is empty.")
    ] = False,
) -> None:
    """Run the API and the portal (and, by default, the in-process outbox worker)."""
    settings = _settings()
    if settings.is_sqlite:
        _prepare_sqlite_dir(settings)
        migrate.upgrade(settings.database_url)
    elif asyncio.run(migrate.pending(settings.database_url)):
        typer.secho(
            "The database schema is behind: run `twotier db upgrade` first.",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)
    if with_demo:
        asyncio.run(_seed(settings, only_if_empty=True))
    typer.echo(f"twotier on http://{host}:{port}/  (API docs: /api/docs)")
    uvicorn.run(
        "twotier.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # uvicorn's 5 s replaced workers that were only slow on a loaded machine, forever.
        timeout_worker_healthcheck=worker_timeout,
        # X-Forwarded-* only from the proxies the operator names; otherwise the socket's peer.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level="info",
    )


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Deliver what is due, then exit.")] = False,
) -> None:
    """Deliver outbox messages (emails, webhooks); run as many as you like."""
    settings = _settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    async def main() -> None:
        from twotier import jobs as _jobs  # noqa: F401 — registers handlers and periodic jobs
        from twotier.kit.db import Database
        from twotier.kit.outbox import Worker

        db = Database(settings.database_url)
        runner = Worker(db, settings)
        try:
            if once:
                count = await runner.run_once()
                typer.echo(f"Delivered or retried {count} message(s).")
                return
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, runner.stop)
            typer.echo(f"Outbox worker {runner.name} running.")
            await runner.run_forever()
        finally:
            await db.dispose()

    asyncio.run(main())


@operator_app.command("create")
def operator_create(
    email: Annotated[str, typer.Option(help="The operator's sign-in email.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    name: Annotated[str, typer.Option(help="Display name.")] = "Operator",
) -> None:
    """Create an operator user (and the operator tenant, the first time)."""
    settings = _settings()
    from twotier.operator.service import OperatorExists, create_operator

    async def main() -> None:
        from twotier.kit.db import Database

        db = Database(settings.database_url)
        try:
            async with db.write_sessions() as session, session.begin():
                await create_operator(session, email=email, password=password, name=name)
        finally:
            await db.dispose()

    try:
        asyncio.run(main())
    except OperatorExists as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    except ValueError as exc:
        typer.secho(f"Invalid input: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"Operator {email} created. Sign in at {settings.base_url}/signin")


class _Bars:
    """The importer's progress as rich progress bars (on stderr, drawn only on a terminal)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def stage(self, description: str, total: int) -> None:
        self.task = self.progress.add_task(description, total=total)

    def advance(self, amount: int = 1) -> None:
        if self.task is not None:
            self.progress.advance(self.task, amount)


@membership_app.command(
    "import",
    help="Import membership accounts and their organizations: every row, or nothing. "
    "Several rows with one username make one account holding several organizations (with "
    "the same password); an empty partner_id gets a generated one. Bad rows are listed by "
    "line number and nothing is imported (exit code 1).",
)
def membership_import(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="CSV with the header username,password,legal_name,country,partner_id.",
        ),
    ],
    jobs: Annotated[
        int | None,
        typer.Option(
            min=1, max=64, help="Threads hashing passwords (default: the CPUs, at most 8)."
        ),
    ] = None,
    partner_ids_out: Annotated[
        Path | None,
        typer.Option(
            dir_okay=False,
            help="Also write the imported organizations and their partner IDs (no passwords) "
            "to this CSV file.",
        ),
    ] = None,
) -> None:
    settings = _settings()
    from rich.console import Console

    from twotier.kit.db import Database
    from twotier.membership.importer import (
        ImportRefused,
        ImportSummary,
        import_memberships,
        write_partner_ids,
    )

    console = Console(stderr=True)
    started = time.perf_counter()

    async def main() -> ImportSummary:
        db = Database(settings.database_url)
        try:
            with _progress(console) as bars:
                return await import_memberships(
                    db, file.read_bytes(), source=file.name, jobs=jobs, progress=_Bars(bars)
                )
        finally:
            await db.dispose()

    try:
        summary = asyncio.run(main())
    except ImportRefused as exc:
        for error in exc.errors:
            typer.echo(str(error), err=True)
        typer.secho(
            exc.reason or f"{len(exc.errors)} bad row(s) in {file.name}; nothing was imported.",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1) from exc
    if partner_ids_out is not None:
        with partner_ids_out.open("w", encoding="utf-8", newline="") as out:
            write_partner_ids(summary.organizations, out)
    typer.echo(
        f"Imported {summary.accounts} membership account(s) holding "
        f"{len(summary.organizations)} organization(s) "
        f"({summary.generated_partner_ids} partner ID(s) generated) "
        f"in {time.perf_counter() - started:.1f} s."
    )
    if partner_ids_out is not None:
        typer.echo(f"Partner IDs written to {partner_ids_out}.")


def _when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        typer.secho(f"--{name}: not an ISO 8601 time: {value}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    return as_utc(parsed)


@audit_app.command("export")
def audit_export(
    since: Annotated[
        str | None, typer.Option(help="ISO 8601, inclusive (UTC when no offset).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="ISO 8601, exclusive (UTC when no offset).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", dir_okay=False, help="File (default: stdout).")
    ] = None,
) -> None:
    """Write audit records as JSON Lines, oldest first, with their place in the hash chain."""
    settings = _settings()
    start, end = _when(since, "since"), _when(until, "until")

    async def main(out: TextIO) -> int:
        from twotier.audit.chain import export
        from twotier.kit.db import Database

        db = Database(settings.database_url)
        count = 0
        try:
            async with db.read_sessions() as session:
                async for line in export(session, start, end):
                    out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
                    count += 1
        finally:
            await db.dispose()
        return count

    if output is None:
        asyncio.run(main(sys.stdout))
        return
    with output.open("w", encoding="utf-8") as handle:
        count = asyncio.run(main(handle))
    typer.echo(f"Exported {count} audit record(s) to {output}.", err=True)


@audit_app.command("verify")
def audit_verify(
    seal: Annotated[
        bool, typer.Option(help="Seal records not yet chained first (else only read).")
    ] = True,
    expect: Annotated[
        str | None,
        typer.Option(
            help="SEQ:HASH printed by an earlier verify, kept elsewhere: the chain must "
            "still hold that record with that hash (catches a chain rewritten end to end)."
        ),
    ] = None,
) -> None:
    """Recompute the audit hash chain; list every record altered, removed or inserted, and
    how many (exit 1)."""
    settings = _settings()
    listed = 0

    def report(problem: Problem) -> None:
        nonlocal listed
        if not listed:
            typer.secho("Audit trail tampered with:", fg=typer.colors.RED, err=True)
        listed += 1
        typer.echo(f"  {problem}", err=True)

    async def main() -> tuple[VerifyResult, str | None]:
        from twotier.audit.chain import chain_hash_at, snapshot, verify
        from twotier.audit.chain import seal as seal_records
        from twotier.kit.db import Database

        db = Database(settings.database_url)
        try:
            if seal:
                await seal_records(db, settings)
            async with snapshot(db) as session:
                result = await verify(session, settings.audit_hash_key, report=report)
                anchored = None
                if expect is not None:
                    seq, _, _hash = expect.partition(":")
                    anchored = await chain_hash_at(session, int(seq))
            return result, anchored
        finally:
            await db.dispose()

    if expect is not None and not re.fullmatch(r"\d+:[0-9a-f]{64}", expect):
        typer.secho("--expect takes SEQ:HASH (as verify prints it).", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    result, anchored = asyncio.run(main())
    broken = not result.ok
    if broken:
        typer.secho(
            f"{result.problems} record(s) altered, removed or inserted; "
            f"{result.checked} sealed record(s) verify.",
            fg=typer.colors.RED,
            err=True,
        )
        if result.wrong_key:
            typer.echo(
                "No keyed record matches its hash: is TWOTIER_AUDIT_KEY (or, unset, "
                "TWOTIER_SECRET_KEY) the one the records were written with?",
                err=True,
            )
    if expect is not None and anchored != expect.partition(":")[2]:
        broken = True
        typer.secho(
            f"Audit chain does not match the anchor {expect}: the chain was rewritten "
            "(or the record removed).",
            fg=typer.colors.RED,
            err=True,
        )
    if broken:
        raise typer.Exit(1)
    typer.echo(
        f"Audit chain verified: {result.checked} record(s); head #{result.head_seq} "
        f"{result.head_hash}"
    )
    if result.legacy:
        typer.echo(f"{result.legacy} of them sealed before keyed hashing (plain SHA-256).")
    if result.pending:
        typer.echo(f"{result.pending} record(s) not sealed yet (their hashes verify).")
    typer.echo(f"Keep this anchor elsewhere: {result.head_seq}:{result.head_hash}")


@bench_app.command("seed")
def bench_seed(
    customers: Annotated[int, typer.Option(min=2, help="Two-tier customers.")] = 10_000,
    resellers: Annotated[int, typer.Option(min=2, help="Indirect resellers.")] = 10_000,
    providers: Annotated[int, typer.Option(min=1, help="Indirect providers.")] = 1_000,
    big: Annotated[int, typer.Option(help="Customers of the benchmark's big reseller.")] = 10_000,
    small: Annotated[int, typer.Option(help="Customers of the benchmark's small reseller.")] = 100,
    out: Annotated[
        Path, typer.Option(help="Where to write the sample principals' tokens and ids.")
    ] = Path("var/bench-world.json"),
) -> None:
    """Bulk-load a benchmark channel into an empty, migrated database (COPY on PostgreSQL):
    providers, resellers linked to them, two-tier customers with relationships, grants,
    users, tokens, a catalog and some subscriptions."""
    settings = _settings()
    from rich.console import Console

    from twotier.demo.bulk import seed
    from twotier.demo.seed import is_empty
    from twotier.kit.db import Database

    console = Console(stderr=True)
    started = time.perf_counter()

    async def main() -> str:
        db = Database(settings.database_url)
        try:
            if not await is_empty(db):
                typer.secho("The database is not empty: seed an empty one.", err=True)
                raise typer.Exit(2)
            with _progress(console) as bars:
                task = bars.add_task("customers", total=customers)
                world = await seed(
                    db,
                    customers=customers,
                    resellers=resellers,
                    providers=providers,
                    big=big,
                    small=small,
                    progress=lambda n: bars.advance(task, n),
                )
            world.timings["seed_seconds"] = round(time.perf_counter() - started, 1)
            return world.to_json()
        finally:
            await db.dispose()

    _prepare_sqlite_dir(settings)
    migrate.upgrade(settings.database_url)
    data = asyncio.run(main())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(data)
    typer.echo(
        f"Seeded {customers:,} customers, {resellers:,} resellers and {providers:,} providers "
        f"in {time.perf_counter() - started:.1f} s; the sample principals are in {out}."
    )


def main() -> None:  # pragma: no cover — console entry point
    sys.exit(app())
