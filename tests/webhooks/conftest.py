from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.webhooks.receiver import receiver
from twotier.app import create_app
from twotier.config import Settings
from twotier.kit.db import Database

__all__ = ["receiver"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests deliver to a receiver on loopback."""
    return settings.model_copy(update={"webhooks_allow_private": True})


@pytest.fixture
async def strict_client(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The app as shipped: private addresses refused."""
    app = create_app(settings.model_copy(update={"webhooks_allow_private": False}), db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Names to resolve to the address given (set or change one at any time); other names
    resolve as usual."""
    names: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in names:
            return real(host, port, *args, **kwargs)
        address = names[host]
        if ":" in address:
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names
