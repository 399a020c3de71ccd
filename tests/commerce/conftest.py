"""The commerce worlds, built through the API: a linked provider and reseller, a two-tier
customer, and an offer sold in the customer's country."""

from __future__ import annotations

import httpx
import pytest

from tests.commerce.helpers import World, two_tier_world
from twotier.config import Settings
from twotier.kit.db import Database


@pytest.fixture
async def world(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> World:
    """The offer is annual (P1Y) with a 7-day cancellation window."""
    return await two_tier_world(client, db, settings, operator, cancellation_window_days=7)


@pytest.fixture
async def monthly_world(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> World:
    """The same world, but the offer's term is one month (P1M)."""
    return await two_tier_world(client, db, settings, operator, term="P1M")
