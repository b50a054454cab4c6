"""Workers killed with SIGKILL mid-dispatch lose nothing and send nothing twice (SPEC §13).

Two real ``tenantmail worker`` processes on PostgreSQL dispatch 1,000 jobs to a sandbox running in
this process (each send slowed a little so that kills land inside Postmark calls); one of them is
killed again and again and restarted. Jobs a dead worker held come back when their lease expires,
are reconciled by ``tm_job`` metadata search, and only then sent if Postmark never got them.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import Stack, queue_jobs, start_stack
from tests.helpers import job_statuses, sendable_configuration

pytestmark = pytest.mark.slow
JOBS = 1_000
DEADLINE_SECONDS = 100


@pytest.fixture
async def stack(engine: AsyncEngine, database_url: str, backend: str, tmp_path: Path) -> Stack:
    if backend != "postgresql":
        pytest.skip("several worker processes are a PostgreSQL deployment (SQLite is single-process)")
    started = await start_stack(database_url, tmp_path / "var", lease_seconds=3, dispatch_batch_size=25,
                                worker_poll_seconds=0.05, postmark_timeout_seconds=1)
    yield started
    await started.close()


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(timeout=10)


async def test_sigkilled_workers_neither_lose_nor_duplicate_a_message(stack: Stack, engine: AsyncEngine) -> None:
    config = await sendable_configuration(stack.app, "tenant-crash", "crash")
    await queue_jobs(stack.app, config, JOBS)
    await stack.app.postmark.account.get_server(config.server_id or 0)  # the sandbox is up
    await stack.delay_sends(0.1)

    steady, victim = stack.spawn("worker"), stack.spawn("worker")
    mid_dispatch_kills, deadline, rng = 0, time.monotonic() + DEADLINE_SECONDS, random.Random(7)
    try:
        while (sent := (await job_statuses(engine))["SENT"]) < JOBS and time.monotonic() < deadline:
            await asyncio.sleep(rng.uniform(1.2, 2.5))  # start-up (~1 s) plus some dispatching
            kill(victim)
            mid_dispatch_kills += 0 < sent
            victim = stack.spawn("worker")
    finally:
        for proc in (steady, victim):
            kill(proc)

    assert (await job_statuses(engine)) == Counter({"SENT": JOBS})
    messages = await stack.messages(config.server_id or 0)
    per_job = Counter(m["Metadata"]["tm_job"] for m in messages)
    assert len(messages) == JOBS and len(per_job) == JOBS and max(per_job.values()) == 1
    assert mid_dispatch_kills >= 2
