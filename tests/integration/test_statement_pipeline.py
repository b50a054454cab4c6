"""Batches of statements on libpq directly (adapters/db/statement_pipeline.py), against a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from tenantmail.adapters.db import statement_pipeline
from tenantmail.adapters.db.direct_pool import DirectPool
from tenantmail.adapters.db.statement_pipeline import StatementPipeline
from tests.helpers import pool_with_table

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

INSERT = "INSERT INTO sp_probe (id, note) VALUES (%(id)s, %(note)s) RETURNING id, note"
PREPARED = "SELECT name FROM pg_prepared_statements WHERE name LIKE 'tm\\_%%' ORDER BY name"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[DirectPool]:
    async with pool_with_table(database_url, "sp_probe", "id integer PRIMARY KEY, note text", max_size=2) as pool:
        yield pool


async def _ids(pool: DirectPool) -> list[int]:
    async with pool.connection() as conn:
        return [r["id"] for r in await (await conn.execute("SELECT id FROM sp_probe ORDER BY id")).fetchall()]


async def test_a_batch_answers_each_statement_its_row_and_reuses_what_it_prepared(pool: DirectPool) -> None:
    async with pool.connection() as conn:
        wire = StatementPipeline(conn)
        first = await wire.run([(INSERT, {"id": 1, "note": "a"}), (INSERT, {"id": 2, "note": None}),
                                ("SELECT count(*) AS n, %(id)s::int + %(id)s::int AS twice FROM sp_probe", {"id": 4}),
                                ("SELECT '100%%' AS literal, id FROM sp_probe WHERE id = 99", {})])
        assert [o.row for o in first] == [{"id": 1, "note": "a"}, {"id": 2, "note": None},
                                           {"n": 2, "twice": 8}, None]  # later statements see earlier writes
        assert all(o.error is None and o.sent and not o.aborted for o in first)
        prepared = [r["name"] for r in await (await conn.execute(PREPARED)).fetchall()]
        again = await wire.run([(INSERT, {"id": 3, "note": "c"})])
        assert again[0].row == {"id": 3, "note": "c"}
        # the same text with the same parameter types runs what the first batch prepared
        assert [r["name"] for r in await (await conn.execute(PREPARED)).fetchall()] == prepared
        assert 3 <= len(prepared) <= 4  # one per (text, parameter types): a NULL note may type differently
    assert await _ids(pool) == [1, 2, 3]


async def test_a_server_error_fails_its_statement_and_rolls_the_batch_back(pool: DirectPool) -> None:
    async with pool.connection() as conn:
        wire = StatementPipeline(conn)
        outcomes = await wire.run([(INSERT, {"id": 1, "note": "a"}), (INSERT, {"id": 1, "note": "b"}),
                                   (INSERT, {"id": 2, "note": "c"})])
        assert outcomes[0].error is None and outcomes[0].row == {"id": 1, "note": "a"}  # answered, then rolled back
        assert isinstance(outcomes[1].error, psycopg.errors.UniqueViolation)
        assert outcomes[2].aborted and outcomes[2].error is None
        assert conn.info.transaction_status is psycopg.pq.TransactionStatus.IDLE  # usable again
        assert (await wire.run([(INSERT, {"id": 5, "note": "d"})]))[0].row == {"id": 5, "note": "d"}
    assert await _ids(pool) == [5]


async def test_a_statement_the_server_cannot_parse_is_that_statements_error(pool: DirectPool) -> None:
    async with pool.connection() as conn:
        wire = StatementPipeline(conn)
        [bad] = await wire.run([("SELEC nothing FROM sp_probe WHERE id = %(id)s", {"id": 1})])
        assert isinstance(bad.error, psycopg.errors.SyntaxError) and bad.sent
        [good] = await wire.run([(INSERT, {"id": 1, "note": "a"})])
        assert good.row == {"id": 1, "note": "a"}


async def test_a_parameter_missing_or_not_adaptable_fails_before_the_server_and_alone(pool: DirectPool) -> None:
    async with pool.connection() as conn:
        wire = StatementPipeline(conn)
        outcomes = await wire.run([(INSERT, {"id": 1}), (INSERT, {"id": object(), "note": "x"}),
                                   (INSERT, {"id": 2, "note": "b"})])
    assert isinstance(outcomes[0].error, psycopg.ProgrammingError) and "note" in str(outcomes[0].error)
    assert isinstance(outcomes[1].error, psycopg.ProgrammingError)
    assert not outcomes[0].sent and not outcomes[1].sent
    assert outcomes[2].row == {"id": 2, "note": "b"}  # committed: the failures never reached the server
    assert await _ids(pool) == [2]


async def test_past_the_prepared_cap_statements_are_parsed_each_time(
    pool: DirectPool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(statement_pipeline, "MOST_PREPARED", 1)
    async with pool.connection() as conn:
        wire = StatementPipeline(conn)
        outcomes = await wire.run([(INSERT, {"id": 1, "note": "a"}),
                                   ("SELECT count(*) AS n FROM sp_probe WHERE id >= %(id)s", {"id": 0}),
                                   ("SELECT count(*) AS n FROM sp_probe WHERE id >= %(id)s", {"id": 1})])
        assert [o.row for o in outcomes] == [{"id": 1, "note": "a"}, {"n": 1}, {"n": 1}]
        assert len(await (await conn.execute(PREPARED)).fetchall()) == 1


async def test_a_connection_lost_mid_batch_raises_and_is_not_reused(pool: DirectPool, database_url: str) -> None:
    with pytest.raises(psycopg.OperationalError):
        async with asyncio.timeout(10), pool.connection() as conn:
            pid = conn.info.backend_pid
            wire = StatementPipeline(conn)
            async with await psycopg.AsyncConnection.connect(
                    DirectPool(database_url)._url, autocommit=True) as killer:  # noqa: SLF001 - the same URL
                batch = wire.run([("SELECT pg_sleep(0.5) AS slept", {}), (INSERT, {"id": 1, "note": "a"})])
                running = asyncio.ensure_future(batch)
                await asyncio.sleep(0.2)
                await killer.execute("SELECT pg_terminate_backend(%s)", [pid])
                outcomes = await running
                raise AssertionError(f"the batch answered after its connection was killed: {outcomes}")
    assert conn.closed
    async with pool.connection() as fresh:
        assert fresh is not conn
    assert await _ids(pool) == []


async def test_a_batch_cancelled_in_flight_leaves_a_connection_the_pool_drops(pool: DirectPool) -> None:
    with pytest.raises(asyncio.CancelledError):
        async with pool.connection() as conn:
            running = asyncio.ensure_future(StatementPipeline(conn).run(
                [("SELECT pg_sleep(0.3) AS slept", {}), (INSERT, {"id": 1, "note": "a"})]))
            await asyncio.sleep(0.1)
            running.cancel()  # as at shutdown: the answers are never read
            await running
    assert conn.closed  # mid-pipeline, never handed out again
    async with pool.connection() as fresh:
        assert fresh is not conn
        [outcome] = await StatementPipeline(fresh).run([(INSERT, {"id": 2, "note": "b"})])
        assert outcome.row == {"id": 2, "note": "b"}
