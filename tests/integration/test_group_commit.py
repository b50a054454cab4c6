"""Group commit (adapters/db/intake/group_commit.py) on each database's lane, against real databases.

Each ordering test holds the database's write path from outside (PostgreSQL: an advisory lock the
lane's first unit waits for; SQLite: another connection's write transaction), waits until the
units under test are queued behind it, then lets go: no sleeps, only conditions.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import psycopg
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import make_url

from tenantmail.adapters.db.intake.dialects import DIALECTS, Dialect
from tenantmail.adapters.db.intake.group_commit import DatabaseUnavailable, GroupCommit, Lane, Share, Statement
from tenantmail.adapters.db.intake.postgres_lane import PostgresLane
from tenantmail.adapters.db.intake.sqlite_lane import SqliteLane
from tenantmail.adapters.telemetry import Telemetry
from tests.helpers import eventually

HOLD_KEY = 4242


def _lane(backend: str, url: str) -> Lane:
    return PostgresLane(url) if backend == "postgresql" else SqliteLane(url, lambda: None)


class Probe:
    """A scratch table ``gc_probe (id)`` and the statements the tests run on it."""

    def __init__(self, backend: str, url: str) -> None:
        self.backend, self.url = backend, url
        self.dialect: Dialect = DIALECTS[backend]

    def insert(self, id_: int) -> Statement:
        return Statement(f"INSERT INTO gc_probe (id) VALUES ({self.dialect.param('id')}) RETURNING id", {"id": id_})

    def count(self) -> Statement:
        return Statement("SELECT count(*) AS n FROM gc_probe", {})

    def hold_point(self) -> Statement:
        """A statement that waits while :meth:`held` holds the write path."""
        if self.backend == "postgresql":
            return Statement(f"SELECT pg_advisory_xact_lock({HOLD_KEY}) IS NULL AS waited", {})
        return Statement("SELECT 1 AS waited", {})  # its BEGIN IMMEDIATE waits for the writer

    def insert_new(self, id_: int) -> Statement:
        """An insert that returns no row when the id is there already (an item that finds its gate shut)."""
        return Statement(f"INSERT INTO gc_probe (id) VALUES ({self.dialect.param('id')}) ON CONFLICT DO NOTHING"
                         " RETURNING id", {"id": id_})

    def share(self, pool: str = "p") -> Share:
        """One of ``gc_pool``'s ``available`` for ``pool``; every take counts itself in ``takes``."""
        d, p = self.dialect, self.dialect.param
        grant = d.least("available", p("n"))
        return Share(pool, f"UPDATE gc_pool SET granted = {grant}, available = available - {grant}, takes = takes + 1"
                           f" WHERE pool = {p('pool')} RETURNING granted, available",
                     f"UPDATE gc_pool SET available = available + {p('n')} WHERE pool = {p('pool')}", {"pool": pool})

    def pool(self, pool: str = "p") -> tuple[int, int]:
        """(available, takes) of ``pool``."""
        [(available, takes)] = self.execute(f"SELECT available, takes FROM gc_pool WHERE pool = '{pool}'")
        return int(available), int(takes)  # type: ignore[call-overload]

    def execute(self, sql: str) -> list[tuple[object, ...]]:
        if self.backend == "postgresql":
            with psycopg.connect(self.url, autocommit=True) as conn:
                return list(conn.execute(sql).fetchall()) if sql.lstrip().upper().startswith("SELECT") \
                    else (conn.execute(sql), [])[1]
        with sqlite3.connect(make_url(self.url).database or "", isolation_level=None) as conn:
            return conn.execute(sql).fetchall()

    @asynccontextmanager
    async def held(self) -> AsyncIterator[Callable[[], None]]:
        """Holds the write path until the yielded ``release`` is called (or the block ends)."""
        if self.backend == "postgresql":
            conn = psycopg.connect(self.url, autocommit=True)
            conn.execute("SELECT pg_advisory_lock(%s)", (HOLD_KEY,))
            release = lambda: conn.execute("SELECT pg_advisory_unlock(%s)", (HOLD_KEY,))  # noqa: E731
        else:
            conn = sqlite3.connect(make_url(self.url).database or "", isolation_level=None)  # type: ignore[assignment]
            conn.execute("BEGIN IMMEDIATE")
            release = lambda: conn.execute("COMMIT")  # noqa: E731
        released = False

        def let_go() -> None:
            nonlocal released
            if not released:
                released = True
                release()

        try:
            yield let_go
        finally:
            let_go()
            conn.close()


@pytest.fixture
async def probe(backend: str, database_url: str) -> AsyncIterator[Probe]:
    probe = Probe(backend, database_url)
    probe.execute("DROP TABLE IF EXISTS gc_probe")
    probe.execute("CREATE TABLE gc_probe (id integer PRIMARY KEY)")
    probe.execute("DROP TABLE IF EXISTS gc_pool")
    probe.execute("CREATE TABLE gc_pool (pool varchar(10) PRIMARY KEY, available integer, granted integer, takes integer)")
    probe.execute("INSERT INTO gc_pool VALUES ('p', 3, 0, 0), ('q', 10, 0, 0)")
    yield probe
    probe.execute("DROP TABLE gc_probe")
    probe.execute("DROP TABLE gc_pool")


@pytest.fixture
async def commit(probe: Probe) -> AsyncIterator[GroupCommit]:
    commit = GroupCommit([_lane(probe.backend, probe.url)], telemetry=Telemetry(CollectorRegistry()))
    yield commit
    await commit.close()


async def _queued_behind_a_held_lane(probe: Probe, commit: GroupCommit, units: list[list[Statement]],
                                    *, results: bool = False) -> list:
    """Occupy the one lane, queue ``units`` meanwhile: they leave as one batch when it frees. Each
    unit's merged row, or with ``results`` its whole UnitResult."""
    async with probe.held() as release:
        busy = asyncio.create_task(commit.run_committed(probe.hold_point()))
        await eventually(lambda: commit.busy_lanes == 1 and commit.queued == 0)
        run = commit.run_committed_result if results else commit.run_committed
        queued = [asyncio.create_task(run(*unit)) for unit in units]
        await eventually(lambda: commit.queued == len(units))
        release()
        results = await asyncio.gather(*queued, return_exceptions=True)
        await busy
    return results


async def test_units_queued_while_the_lane_is_busy_commit_as_one_batch_in_order(
    probe: Probe, commit: GroupCommit,
) -> None:
    results = await _queued_behind_a_held_lane(
        probe, commit, [[probe.insert(1)], [probe.insert(2)], [probe.count()], [probe.insert(3)]])
    assert results == [{"id": 1}, {"id": 2}, {"n": 2}, {"id": 3}]  # each its own row; later ones see earlier writes
    assert commit.batches == 1
    registry = commit._telemetry.registry  # type: ignore[union-attr]
    assert registry.get_sample_value("email_db_batch_commit_total", {"statements": "2-4"}) == 1
    assert probe.execute("SELECT count(*) FROM gc_probe") == [(3,)]


async def test_a_failing_unit_fails_alone_and_its_batch_mates_are_stored_once(probe: Probe, commit: GroupCommit) -> None:
    results = await _queued_behind_a_held_lane(
        probe, commit, [[probe.insert(1)], [probe.insert(2)], [probe.insert(1)], [probe.insert(3)]])
    assert results[0] == {"id": 1} and results[1] == {"id": 2} and results[3] == {"id": 3}
    duplicate = psycopg.errors.UniqueViolation if probe.backend == "postgresql" else sqlite3.IntegrityError
    assert isinstance(results[2], duplicate)  # the duplicate's caller, and only it
    assert probe.execute("SELECT id FROM gc_probe ORDER BY id") == [(1,), (2,), (3,)]
    assert commit.batches == 1


async def test_a_unit_of_several_statements_answers_their_rows_merged(probe: Probe, commit: GroupCommit) -> None:
    assert await commit.run_committed(probe.insert(5), probe.count()) == {"id": 5, "n": 1}
    with pytest.raises(psycopg.errors.UniqueViolation if probe.backend == "postgresql" else sqlite3.IntegrityError):
        await commit.run_committed(probe.insert(6), probe.insert(5))
    assert probe.execute("SELECT id FROM gc_probe") == [(5,)]  # the failed unit left nothing, its first row included


async def test_a_lone_unit_goes_at_once_without_a_batch(probe: Probe, commit: GroupCommit) -> None:
    assert await commit.run_committed(probe.insert(7)) == {"id": 7}
    assert await commit.run_committed(Statement("SELECT id FROM gc_probe WHERE id = 8", {})) is None
    assert commit.batches == 0


async def test_a_caller_that_goes_away_leaves_its_batch_mates_their_rows(probe: Probe, commit: GroupCommit) -> None:
    async with probe.held() as release:
        busy = asyncio.create_task(commit.run_committed(probe.hold_point()))
        await eventually(lambda: commit.busy_lanes == 1 and commit.queued == 0)
        leaving = asyncio.create_task(commit.run_committed(probe.insert(1)))
        staying = asyncio.create_task(commit.run_committed(probe.insert(2)))
        await eventually(lambda: commit.queued == 2)
        leaving.cancel()
        release()
        assert await staying == {"id": 2}
        await busy
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert probe.execute("SELECT count(*) FROM gc_probe") == [(2,)]  # it was queued: not withdrawn


async def test_closing_mid_batch_fails_its_callers_and_the_next_batch_runs_on_a_fresh_connection(
    probe: Probe,
) -> None:
    lane = _lane(probe.backend, probe.url)
    commit = GroupCommit([lane])
    async with probe.held():
        waiting = asyncio.create_task(commit.run_committed(probe.hold_point(), probe.insert(1)))
        await eventually(lambda: commit.busy_lanes == 1 and commit.queued == 0)
        if probe.backend == "postgresql":  # PostgreSQL's batch is cancelled mid-pipeline
            await commit.close()
    if probe.backend == "sqlite":  # SQLite's thread finishes its batch; closing waits for it
        await commit.close()
    result = await asyncio.gather(waiting, return_exceptions=True)
    assert isinstance(result[0], DatabaseUnavailable | dict)
    again = GroupCommit([lane])
    assert await again.run_committed(probe.count()) is not None  # the lane opens a new connection
    await again.close()


async def test_no_database_fails_every_waiting_caller_instead_of_hanging(backend: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = ("postgresql://postgres@127.0.0.1:1/nowhere" if backend == "postgresql"
           else f"sqlite:///{tmp_path}/missing-directory/db.sqlite3")
    commit = GroupCommit([_lane(backend, url)])
    async with asyncio.timeout(10):
        results = await asyncio.gather(*(commit.run_committed(Statement("SELECT 1 AS one", {})) for _ in range(5)),
                                       return_exceptions=True)
    assert all(isinstance(r, DatabaseUnavailable) for r in results), results
    await commit.close()


def _with_share(statement: Statement, share: Share) -> Statement:
    return Statement(statement.sql, statement.params, share=share)


async def test_a_batch_takes_each_pool_once_and_its_first_items_in_arrival_order_run(
    probe: Probe, commit: GroupCommit,
) -> None:
    p, q = probe.share("p"), probe.share("q")  # p holds 3, q 10
    units = [[_with_share(probe.insert(i), p)] for i in range(1, 6)] + [[_with_share(probe.insert(9), q)]]
    results = await _queued_behind_a_held_lane(probe, commit, units, results=True)
    assert [r.shares[0]["granted"] for r in results] == [1, 1, 1, 0, 0, 1]
    assert [r.rows for r in results] == [({"id": 1},), ({"id": 2},), ({"id": 3},), (None,), (None,), ({"id": 9},)]
    assert results[3].shares[0]["available"] == 0  # a refused item reads the pool as the take left it
    assert probe.execute("SELECT id FROM gc_probe ORDER BY id") == [(1,), (2,), (3,), (9,)]
    assert probe.pool("p") == (0, 1) and probe.pool("q") == (9, 1)  # one take per pool for the whole batch
    assert commit.batches == 1


async def test_an_item_whose_last_statement_returns_no_row_gives_its_share_back(probe: Probe, commit: GroupCommit) -> None:
    p = probe.share("p")
    probe.execute("INSERT INTO gc_probe (id) VALUES (2)")  # item 2's gate is shut
    # a unit with a statement of its own, then three items (a batch send); then one more unit
    units = [[probe.count(), _with_share(probe.insert_new(1), p), _with_share(probe.insert_new(2), p),
              _with_share(probe.insert_new(3), p)], [_with_share(probe.insert_new(4), p)]]
    results = await _queued_behind_a_held_lane(probe, commit, units, results=True)
    assert [s["granted"] for s in results[0].shares] == [1, 1, 1] and results[1].shares[0]["granted"] == 0
    assert results[0].rows == ({"n": 1}, {"id": 1}, None, {"id": 3}) and results[1].rows == (None,)
    assert probe.pool("p") == (1, 1)  # item 2's share came back; unit 2 had been refused in the same take


async def test_a_failed_batch_gives_every_share_back_and_its_units_take_again_alone(
    probe: Probe, commit: GroupCommit,
) -> None:
    p = probe.share("q")  # 10
    units = [[_with_share(probe.insert(1), p)], [_with_share(probe.insert(1), p)], [_with_share(probe.insert(2), p)]]
    results = await _queued_behind_a_held_lane(probe, commit, units, results=True)
    assert results[0].rows == ({"id": 1},) and results[2].rows == ({"id": 2},)
    duplicate = psycopg.errors.UniqueViolation if probe.backend == "postgresql" else sqlite3.IntegrityError
    assert isinstance(results[1], duplicate)
    # the batch's take (3) given back (PostgreSQL) or rolled back (SQLite), then each unit alone takes
    # again: only the two stored keep theirs
    assert probe.pool("q")[0] == 8


async def test_a_lone_unit_with_a_share_takes_it_and_runs(probe: Probe, commit: GroupCommit) -> None:
    result = await commit.run_committed_result(_with_share(probe.insert(7), probe.share("p")))
    assert result.shares[0]["granted"] == 1 and result.row == {"id": 7}
    assert probe.pool("p") == (2, 1)
