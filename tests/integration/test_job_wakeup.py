"""Dispatch wake-up (adapters/db/job_wakeup.py, SPEC §16): the intake's lanes wake ``tenantmail_jobs``
once per committed batch holding new jobs; the PostgreSQL listener hears it and comes back after
its connection is killed (``pg_terminate_backend``: the shared server itself is never restarted)."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from tenantmail.adapters.db.intake.group_commit import GroupCommit, Statement
from tenantmail.adapters.db.intake.postgres_lane import PostgresLane, libpq_url
from tenantmail.adapters.db.intake.sends import JOBS_CHANNEL
from tenantmail.adapters.db.intake.sqlite_lane import SqliteLane
from tenantmail.adapters.db.job_wakeup import LocalJobWakeup, PostgresJobListener
from tests.helpers import eventually


def _postgres_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; the embedded default wakes in-process")


async def _listening(listener: PostgresJobListener, *, after: int = 0) -> int:
    """The listener's backend pid once it has LISTENed more than ``after`` times."""
    await eventually(lambda: listener.connects > after and listener.backend_pid, timeout=30)
    assert listener.backend_pid is not None
    return listener.backend_pid


async def _notify(url: str, payload: str = "") -> None:
    async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as conn:
        await conn.execute("SELECT pg_notify(%s, %s)", (JOBS_CHANNEL, payload))


async def test_local_wakeup_wakes_only_after_a_notify_since_clear() -> None:
    wakeup = LocalJobWakeup()
    wakeup.notify()
    wakeup.clear()
    assert await wakeup.wait(0.01) is False  # the notify before clear() is spent
    wakeup.notify()
    assert await wakeup.wait(3600) is True


async def test_listener_hears_notify_and_reconnects_after_its_connection_is_killed(
    backend: str, database_url: str,
) -> None:
    _postgres_only(backend)
    listener = PostgresJobListener(database_url)
    listener.start()
    try:
        first = await _listening(listener)
        listener.clear()
        await _notify(database_url)
        assert await listener.wait(3600) is True

        async with await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True) as admin:
            killed = await (await admin.execute("SELECT pg_terminate_backend(%s)", (first,))).fetchone()
        assert killed == (True,)
        second = await _listening(listener, after=1)
        assert second != first and listener.connects == 2

        listener.clear()
        await _notify(database_url)
        assert await listener.wait(3600) is True  # heard on the new connection
    finally:
        await listener.close()


async def test_postgresql_lane_notifies_once_per_batch_and_only_for_new_jobs(
    backend: str, database_url: str,
) -> None:
    _postgres_only(backend)
    commit = GroupCommit([PostgresLane(database_url)])
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True) as ear:
        await ear.execute(f"LISTEN {JOBS_CHANNEL}")
        try:
            await commit.run_committed(Statement("SELECT 1 AS quiet", {}))
            await asyncio.gather(*(
                commit.run_committed(Statement("SELECT %(n)s AS n", {"n": n}, wakes=JOBS_CHANNEL))
                for n in range(20)
            ))
            await commit.run_committed(Statement("SELECT 2 AS quiet", {}))
            heard = [n async for n in ear.notifies(timeout=1.0)]
        finally:
            await commit.close()
    assert heard and all(n.channel == JOBS_CHANNEL for n in heard)
    assert len(heard) <= 20 - commit.batches  # a batch of several units: one notification for them all


async def test_sqlite_lane_wakes_after_a_committed_batch_with_new_jobs(backend: str, database_url: str) -> None:
    if backend != "sqlite":
        pytest.skip("the in-process wake-up is the embedded default's")
    woken: list[str] = []
    commit = GroupCommit([SqliteLane(database_url, lambda: None, woken.append)])
    try:
        await commit.run_committed(Statement("SELECT 1 AS quiet", {}))
        assert woken == []
        await commit.run_committed(Statement("SELECT 1 AS one", {}), Statement("SELECT 2 AS two", {},
                                                                                 wakes=JOBS_CHANNEL))
        assert woken == [JOBS_CHANNEL]
        with pytest.raises(Exception):  # rolled back: nothing new to wake for
            await commit.run_committed(Statement("SELECT * FROM no_such_table", {}, wakes=JOBS_CHANNEL))
        assert woken == [JOBS_CHANNEL]
    finally:
        await commit.close()
