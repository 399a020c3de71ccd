"""The channel's worlds, built through the API."""

from __future__ import annotations

import httpx
import pytest

from tests.channel.helpers import provider_and_reseller
from tests.factories import Org
from twotier.config import Settings
from twotier.kit.db import Database


@pytest.fixture
async def pair(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> tuple[Org, Org]:
    """An approved indirect provider and indirect reseller, not linked yet."""
    return await provider_and_reseller(client, db, settings, operator)
