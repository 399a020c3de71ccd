"""The migrations build exactly the schema the models declare (columns, types, indexes)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

import twotier.models  # noqa: F401 — every model on the metadata
from twotier.kit.db import Base


async def test_the_migrated_database_matches_the_models(engine: AsyncEngine) -> None:
    def differences(connection: Any) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async with engine.connect() as connection:
        diff = await connection.run_sync(differences)
    assert diff == []
    assert "ix_relationships_search_name" in {
        index.name for index in Base.metadata.tables["customer_relationships"].indexes
    }
