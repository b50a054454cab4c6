"""Migrations upgrade and downgrade on both databases, and the schema matches the code."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from tenantmail.adapters.db.engine import create_engine
from tenantmail.adapters.db.migrate import (
    DatabaseNotMigrated,
    current_revision,
    downgrade,
    ensure_up_to_date,
    head_revision,
    upgrade,
)
from tenantmail.adapters.db.tables import ALL_TABLES, metadata

import pytest


async def _tables(engine) -> set[str]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names())) - {"alembic_version"}


async def test_upgrade_then_downgrade_round_trips(fresh_database_url: str) -> None:
    engine = create_engine(fresh_database_url)
    try:
        assert await current_revision(engine) is None
        with pytest.raises(DatabaseNotMigrated, match="tenantmail migrate"):
            await ensure_up_to_date(engine)

        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
        assert await _tables(engine) == {t.name for t in ALL_TABLES}
        await ensure_up_to_date(engine)

        await downgrade(engine, "base")
        assert await current_revision(engine) is None
        assert await _tables(engine) == set()

        await upgrade(engine)  # and up again after a full downgrade
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_table_definitions(engine) -> None:  # type: ignore[no-untyped-def]
    def on_this_database(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
        """An index declared for one dialect only (``Index.ddl_if``) exists only there."""
        only = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
        return only is None or only == engine.dialect.name

    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(
                sync, opts={"compare_type": True, "include_object": on_this_database}), metadata)
        )
    assert diff == []
