"""Request-scoped dependencies: settings, database, and the one transaction per request.

Routes use ``TransactionalRoute``: the session a request opened is committed when the
route answers below 400, and rolled back otherwise — before the response leaves, so a
client never sees 201 for a change that did not commit.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.kit.db import Database, ReadSession, read_only
from twotier.kit.fastroute import lean_handler
from twotier.kit.openapi import document_problems

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Dependencies are ``async def`` even when they do not wait: FastAPI runs a plain ``def``
# dependency in a worker thread, a hop that costs more than most requests' own work.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def client_address(request: Request) -> str:
    """The client's address: the socket's peer, or what a trusted proxy said (uvicorn's
    ``--forwarded-allow-ips``). Never read ``X-Forwarded-For`` anywhere else."""
    return request.client.host if request.client else "unknown"


def database_of(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_db(request: Request) -> Database:
    return database_of(request)


async def get_session(request: Request) -> AsyncSession:
    session: AsyncSession | None = getattr(request.state, "db_session", None)
    if session is None:
        db = database_of(request)
        if request.method in SAFE_METHODS:
            # No transaction to begin: its reads run statement by statement (autocommit).
            session = read_only(db.read_sessions())
        else:
            session = db.write_sessions()
            await session.begin()
        request.state.db_session = session
    return session


async def _finish(request: Request, *, commit: bool) -> None:
    session: AsyncSession | None = getattr(request.state, "db_session", None)
    if session is None:
        return
    request.state.db_session = None
    if isinstance(session, ReadSession) and not session.in_transaction():
        # A read that only ran hot reads: nothing to end, the lent connection goes back.
        await session.close()
        return
    try:
        if commit:
            await session.commit()
            if session.info.pop("outbox_written", False):
                wake = getattr(request.app.state, "outbox_wakeup", None)
                if wake is not None:
                    wake()
        else:
            await session.rollback()
    finally:
        await session.close()


class TransactionalRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        document_problems(self)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()
        # A reading route's answer through the lean handler, FastAPI's otherwise.
        inner = lean_handler(self, inner) or inner

        async def handler(request: Request) -> Response:
            try:
                try:
                    response = await inner(request)
                except DBAPIError as exc:
                    if not exc.connection_invalidated:
                        raise
                    # The server dropped the connection (a restart, a terminated backend)
                    # before the request committed anything: once more, on a new one.
                    await _finish(request, commit=False)
                    response = await inner(request)
            except BaseException as exc:
                # An error that recorded something on purpose (a failed sign-in's counters)
                # keeps it; anything else leaves nothing half-written.
                await _finish(request, commit=getattr(exc, "keep_changes", False))
                raise
            keep = getattr(request.state, "keep_changes", False)
            await _finish(request, commit=response.status_code < 400 or keep)
            return response

        return handler


def state(request: Request, name: str) -> Any:
    return getattr(request.app.state, name)
