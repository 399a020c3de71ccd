"""Resolving the caller costs one indexed query and no password hashing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.factories import make_org
from twotier.directory.auth import principal_for_token
from twotier.directory.models import TokenKind


async def test_principal_lookup_is_one_statement(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    org = await make_org(client)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.upper().startswith(("SAVEPOINT", "RELEASE", "BEGIN")):
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        principal = await principal_for_token(session, org.token, TokenKind.api)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert principal is not None
    assert principal.tenant_id.hex == org.id.replace("-", "")
    assert len(statements) == 1
    assert "token_hash" in statements[0]
    # Only what a principal holds: no password hash, no partner profiles.
    for column in ("password_hash", "legal_profile", "primary_contact", "support_profile"):
        assert column not in statements[0]
    assert "users.roles" in statements[0]


async def test_authenticated_requests_never_hash_a_password(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = await make_org(client)
    from twotier.kit import security

    def forbidden(*_args: object) -> bool:
        raise AssertionError("password hashing on an authenticated request")

    monkeypatch.setattr(security, "_verify_sync", forbidden)
    monkeypatch.setattr(security, "_hash_sync", forbidden)
    for _ in range(3):
        assert (await client.get("/api/v1/me", headers=org.auth)).status_code == 200
