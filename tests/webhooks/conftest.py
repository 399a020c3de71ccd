from __future__ import annotations

import pytest

from tests.webhooks.receiver import receiver
from twotier.config import Settings

__all__ = ["receiver"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests deliver to a receiver on loopback."""
    return settings.model_copy(update={"webhooks_allow_private": True})
