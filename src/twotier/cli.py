"""The ``twotier`` command: serve, worker, db upgrade, operator create, demo."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from twotier.config import Settings, get_settings
from twotier.kit import migrate

app = typer.Typer(
    help="twotier: a partner center for two-tier cloud distribution.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
operator_app = typer.Typer(help="Operator accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(operator_app, name="operator")


def _prepare_sqlite_dir(settings: Settings) -> None:
    if settings.is_sqlite and ":///" in settings.database_url:
        path = settings.database_url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def _settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        typer.secho(f"Configuration refused:\n{exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc


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
        proxy_headers=True,
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
        from twotier.kit import email as _email  # noqa: F401 — registers the email handler
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


def main() -> None:  # pragma: no cover — console entry point
    sys.exit(app())
