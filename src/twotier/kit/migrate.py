"""Alembic, driven from code: ``twotier db upgrade``, ``serve`` and the tests use it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from twotier.kit.db import make_engine

_PACKAGE = Path(__file__).resolve().parent.parent


def script_location() -> Path:
    for candidate in (_PACKAGE / "migrations", _PACKAGE.parent.parent / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise RuntimeError("the migrations folder is missing from this installation")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def _current_heads(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def pending(database_url: str) -> bool:
    """True when the database is behind the newest migration."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    engine = make_engine(database_url, pool=False)
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(_current_heads)
    finally:
        await engine.dispose()
    return current != set(script.get_heads())


def upgrade_sync_from_async_context(database_url: str) -> None:
    """Alembic's env runs its own event loop; give it a thread when one is running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        upgrade(database_url)
        return
    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade(database_url)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
