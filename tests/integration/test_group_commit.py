"""Group commit of the hot paths' statements (adapters/db/group_commit.py), against a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from tenantmail.adapters.db.direct_pool import DirectPool
from tenantmail.adapters.db.group_commit import GroupCommit
from tenantmail.adapters.telemetry import Telemetry
from tests.helpers import pool_with_table

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

INSERT = "INSERT INTO gc_probe (id) VALUES (%(id)s) RETURNING id"
COUNT = "SELECT count(*) AS n FROM gc_probe"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[DirectPool]:
    async with pool_with_table(database_url, "gc_probe", "id integer PRIMARY KEY", max_size=4) as pool:
        yield pool


async def _queued_behind_a_busy_lane(commit: GroupCommit, statements: list[tuple[str, dict[str, int]]]) -> list:
    """Occupy the one lane, queue ``statements`` meanwhile: they leave as one batch."""
    busy = asyncio.create_task(commit.fetchone("SELECT pg_sleep(0.3) AS slept", {}))
    await asyncio.sleep(0.05)  # the lane has taken the sleep
    results = await asyncio.gather(*(commit.fetchone(sql, params) for sql, params in statements),
                                   return_exceptions=True)
    await busy
    return results


async def test_statements_queued_while_the_lane_is_busy_commit_as_one_batch_in_order(pool: DirectPool) -> None:
    telemetry = Telemetry(CollectorRegistry())
    commit = GroupCommit(pool, lanes=1, telemetry=telemetry)
    results = await _queued_behind_a_busy_lane(
        commit, [(INSERT, {"id": 1}), (INSERT, {"id": 2}), (COUNT, {}), (INSERT, {"id": 3})])
    assert results == [{"id": 1}, {"id": 2}, {"n": 2}, {"id": 3}]  # each its own row; later ones see earlier writes
    assert commit.batches == 1
    assert telemetry.registry.get_sample_value("email_db_batch_commit_total", {"statements": "2-4"}) == 1
    async with pool.connection() as conn:
        assert (await (await conn.execute(COUNT)).fetchone()) == {"n": 3}


async def test_a_failing_statement_fails_alone_and_its_batch_mates_are_stored_once(pool: DirectPool) -> None:
    commit = GroupCommit(pool, lanes=1)
    results = await _queued_behind_a_busy_lane(
        commit, [(INSERT, {"id": 1}), (INSERT, {"id": 2}), (INSERT, {"id": 1}), (INSERT, {"id": 3})])
    assert results[0] == {"id": 1} and results[1] == {"id": 2} and results[3] == {"id": 3}
    assert isinstance(results[2], psycopg.errors.UniqueViolation)  # the duplicate's caller, and only it
    async with pool.connection() as conn:
        ids = [r["id"] for r in await (await conn.execute("SELECT id FROM gc_probe ORDER BY id")).fetchall()]
    assert ids == [1, 2, 3]
    assert commit.batches == 1


async def test_a_lone_statement_goes_at_once_without_a_batch(pool: DirectPool) -> None:
    commit = GroupCommit(pool)
    assert await commit.fetchone(INSERT, {"id": 7}) == {"id": 7}
    assert await commit.fetchone("SELECT id FROM gc_probe WHERE id = 8", {}) is None
    assert commit.batches == 0


async def test_a_caller_that_goes_away_leaves_its_batch_mates_their_rows(pool: DirectPool) -> None:
    commit = GroupCommit(pool, lanes=1)
    busy = asyncio.create_task(commit.fetchone("SELECT pg_sleep(0.3) AS slept", {}))
    await asyncio.sleep(0.05)
    leaving = asyncio.create_task(commit.fetchone(INSERT, {"id": 1}))
    staying = asyncio.create_task(commit.fetchone(INSERT, {"id": 2}))
    await asyncio.sleep(0.01)
    leaving.cancel()
    assert await staying == {"id": 2}
    await busy
    with pytest.raises(asyncio.CancelledError):
        await leaving
    async with pool.connection() as conn:  # the statement itself was not withdrawn: it was already queued
        assert (await (await conn.execute(COUNT)).fetchone()) == {"n": 2}


async def test_no_database_fails_every_waiting_caller_instead_of_hanging(backend: str) -> None:
    dead = DirectPool("postgresql://postgres@127.0.0.1:1/nowhere")
    commit = GroupCommit(dead, lanes=1)
    async with asyncio.timeout(10):
        results = await asyncio.gather(*(commit.fetchone(COUNT, {}) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, psycopg.OperationalError) for r in results)
