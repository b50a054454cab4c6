"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

The backends come from ``TENANTMAIL_TEST_BACKENDS`` (default ``sqlite,postgresql``). PostgreSQL is
``postgresql://postgres@127.0.0.1:5432`` (trust auth); each test session creates its own database
and drops it at the end. When PostgreSQL is unreachable its tests are skipped with a plain notice —
except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.adapters.db.engine import create_engine
from tenantmail.adapters.db.migrate import upgrade
from tenantmail.adapters.db.tables import ALL_TABLES

pytest_plugins = ["tests.app_fixtures", "tests.sandbox_fixtures", "tests.notification_support"]

PG_ADMIN_DSN = os.environ.get("TENANTMAIL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b.strip() for b in os.environ.get("TENANTMAIL_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]
UNDER_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

def _pg_reachable() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:  # any failure to connect is "unreachable"
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


# Decided at import: test parametrisation (collected before any hook runs) depends on it.
_pg_status: dict[str, str] = {}
if "postgresql" not in BACKENDS:
    _pg_status["skipped"] = "not selected (TENANTMAIL_TEST_BACKENDS)"
elif (_reason := _pg_reachable()) is not None:
    _pg_status["unreachable"] = _reason
    _pg_status["skipped"] = f"unreachable at {PG_ADMIN_DSN} ({_reason})"


def pytest_configure(config: pytest.Config) -> None:
    if UNDER_CI and "unreachable" in _pg_status:
        pytest.exit(
            f"PostgreSQL is required under CI=true but unreachable at {PG_ADMIN_DSN}: {_pg_status['unreachable']}",
            returncode=3,
        )


def pytest_report_header(config: pytest.Config) -> str:
    if "skipped" in _pg_status:
        return f"tenantmail: PostgreSQL half SKIPPED — {_pg_status['skipped']}; running SQLite only"
    return f"tenantmail: database backends {', '.join(BACKENDS)}"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    if "skipped" in _pg_status:
        terminalreporter.write_line(
            f"NOTE: the PostgreSQL half of the suite was SKIPPED: {_pg_status['skipped']}.", yellow=True, bold=True
        )


# --------------------------------------------------------------------------------------------
# databases
# --------------------------------------------------------------------------------------------


def _backend_params() -> list[object]:
    params: list[object] = []
    for backend in ("sqlite", "postgresql"):
        if backend not in BACKENDS:
            continue
        marks = []
        if backend == "postgresql" and "unreachable" in _pg_status:
            marks.append(pytest.mark.skip(reason=f"PostgreSQL {_pg_status['skipped']}"))
        params.append(pytest.param(backend, id=backend, marks=marks))
    return params


def _pg_url(database: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base}/{database}"


def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql)


def _migrate(url: str) -> None:
    async def go() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(go())


@pytest.fixture(scope="session")
def migrated_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One migrated database per backend for the whole session (lazily created)."""
    created_pg: list[str] = []

    class Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, backend: str) -> str:
            if backend == "sqlite":
                url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
            else:
                name = f"tenantmail_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
                _admin(f'CREATE DATABASE "{name}"')
                created_pg.append(name)
                url = _pg_url(name)
            _migrate(url)
            self[backend] = url
            return url

    lazy = Lazy()
    yield lazy
    for name in created_pg:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=_backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, migrated_urls: dict[str, str]) -> str:
    return migrated_urls[backend]


async def emptied(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` after deleting every row of every table (the session's database is shared)."""
    async with engine.begin() as conn:
        for table in reversed(ALL_TABLES):
            await conn.execute(delete(table))
    return engine


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated, empty database of the test's backend."""
    eng = await emptied(create_engine(database_url))
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def fresh_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty, un-migrated database (for migration tests)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    name = f"tenantmail_fresh_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
