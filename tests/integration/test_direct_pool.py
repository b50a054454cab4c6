"""The hot paths' direct PostgreSQL connections (adapters/db/direct_pool.py), against a real server."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from tenantmail.adapters.db import direct_pool
from tenantmail.adapters.db.direct_pool import DirectPool

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


async def test_connections_are_reused_and_speak_utc_with_a_bounded_lock_wait(database_url: str) -> None:
    pool = DirectPool(database_url, max_size=2)
    try:
        async with pool.connection() as first:
            settings = await (await first.execute(
                "SELECT current_setting('TimeZone') AS tz, current_setting('lock_timeout') AS lock_wait")).fetchone()
        async with pool.connection() as again:
            assert again is first
        assert settings == {"tz": "UTC", "lock_wait": "2s"}
    finally:
        await pool.close()


async def test_a_connection_left_inside_a_transaction_is_never_handed_out_again(database_url: str) -> None:
    pool = DirectPool(database_url, max_size=2)
    try:
        with pytest.raises(RuntimeError):
            async with pool.connection() as broken:
                await broken.execute("BEGIN")
                raise RuntimeError("the request failed mid-transaction")
        assert broken.closed
        async with pool.connection() as fresh:
            assert fresh is not broken
            assert (await (await fresh.execute("SELECT 1 AS one")).fetchone()) == {"one": 1}
    finally:
        await pool.close()


async def test_waiting_for_a_free_connection_is_bounded(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct_pool, "WAIT_SECONDS", 0.2)
    pool = DirectPool(database_url, max_size=1)
    try:
        async with pool.connection():
            with pytest.raises(psycopg.OperationalError, match="no database connection free"):
                async with asyncio.timeout(5), pool.connection():  # a regression fails, not hangs
                    pass
        async with asyncio.timeout(5), pool.connection():  # freed: the next caller gets it at once
            pass
    finally:
        await pool.close()
