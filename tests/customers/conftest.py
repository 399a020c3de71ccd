"""The customers' worlds, built through the API: a linked provider and reseller, and a
customer of the reseller either direct or through the provider (two-tier)."""

from __future__ import annotations

import httpx
import pytest

from tests.customers.helpers import customer_of, linked_pair
from tests.factories import Org
from twotier.config import Settings
from twotier.kit.db import Database


@pytest.fixture
async def pair(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> tuple[Org, Org, str, str]:
    """Provider, reseller, the provider's and the reseller's partner account ids: linked."""
    return await linked_pair(client, db, settings, operator)


@pytest.fixture
async def direct_customer_world(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> tuple[Org, Org, str]:
    """Reseller, a customer it invited directly (no provider), the reseller's account id."""
    _provider, reseller, _pid, reseller_id = await linked_pair(client, db, settings, operator)
    customer = await customer_of(client, reseller, None)
    return reseller, customer, reseller_id


@pytest.fixture
async def two_tier_customer_world(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> tuple[Org, Org, Org]:
    """Provider, reseller, and a customer the reseller invited through the provider."""
    provider, reseller, provider_id, _rid = await linked_pair(client, db, settings, operator)
    customer = await customer_of(client, reseller, provider_id)
    return provider, reseller, customer
