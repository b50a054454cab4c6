"""Schema migrations (Alembic), run programmatically on the async engine of either database."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Alembic narrates every step at INFO; callers report the outcome themselves (``tenantmail migrate``).
logging.getLogger("alembic").setLevel(logging.WARNING)


class DatabaseNotMigrated(RuntimeError):
    """The database schema is behind the code: run ``tenantmail migrate``."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(_config(sync), revision))


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def ensure_up_to_date(engine: AsyncEngine) -> None:
    current = await current_revision(engine)
    if current != head_revision():
        raise DatabaseNotMigrated(
            f"database schema is at {current or 'nothing'}, the code needs {head_revision()}: "
            "run `tenantmail migrate` first"
        )
