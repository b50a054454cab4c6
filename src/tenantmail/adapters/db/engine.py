"""The async engine: one per process, built from the database URL in Settings.

URLs are accepted in their plain form (``postgresql://``, ``sqlite:///``) and given the async
driver the stack uses (psycopg 3, aiosqlite).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Pooled PostgreSQL connections are replaced after this long, so a server-side idle timeout
#: rarely meets a stale one. And each checkout is pre-pinged (SPEC §14): after a database restart
#: the general pool would otherwise hand out a dead connection to the first request that finds it,
#: long after recovery (a 503 for a read that could not have failed). The ping's round trip costs
#: nothing on the hot paths, which do not use this pool (their lanes own their connections and
#: replace a broken one themselves: ``adapters/db/intake/``).
POOL_RECYCLE_SECONDS = 300


def async_url(url: str) -> str:
    """Give a plain database URL its async driver (``postgresql+psycopg``, ``sqlite+aiosqlite``)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """Build the engine. SQLite gets WAL, a busy timeout and write-locking transactions."""
    full = async_url(url)
    parsed = make_url(full)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            full, pool_size=pool_size, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_async_engine(full, pool_size=pool_size, max_overflow=pool_size, pool_recycle=POOL_RECYCLE_SECONDS,
                               pool_pre_ping=True)


def sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # pysqlite's own transaction handling is turned off so BEGIN IMMEDIATE below is ours: every
    # transaction takes the write lock up front, which turns SQLite's "database is locked" on
    # lock upgrade into an orderly wait bounded by busy_timeout.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin_immediate(connection) -> None:  # type: ignore[no-untyped-def]
    connection.exec_driver_sql("BEGIN IMMEDIATE")
