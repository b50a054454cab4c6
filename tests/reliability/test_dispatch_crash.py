"""Workers killed with SIGKILL mid-dispatch lose nothing and send nothing twice (SPEC §13), also
under push wake-up with the listeners' connections killed too (SPEC §16).

Two real ``tenantmail worker`` processes on PostgreSQL dispatch 1,000 jobs to a sandbox running in
this process (each send slowed so that kills land inside Postmark calls); one of them is killed
again and again and restarted. Jobs a dead worker held come back when their lease expires, are
reconciled by ``tm_job`` metadata search, and only then sent if Postmark never got them.

The kills are counted, not timed: a quiet machine must not finish before the kills land, and a
loaded one (the whole suite beside it) must not run out of time while retries back off. So the
kills stop after ``KILLS`` of them, and then the survivors get a generous deadline to finish —
what is asserted is that nothing is lost or sent twice, not how fast.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from sqlalchemy import text

from bench.common import Stack, queue_jobs, start_stack
from tenantmail.adapters.db.job_wakeup import APPLICATION_NAME
from tenantmail.domain.send_request import SendRequest
from tenantmail.services.submit_send import submit_send
from tests.helpers import job_statuses, sendable_configuration

pytestmark = pytest.mark.slow
JOBS = 1_000
KILLS = 6  #: mid-dispatch kills of the victim worker
DEADLINE_SECONDS = 100  #: for the kills
FINISH_SECONDS = 240  #: after the kills, for the two surviving workers to send the rest
# A call the load made time out backs off; capped at a few seconds here, the default cap (300 s)
# would leave jobs waiting past any deadline.
RETRY = {"send_retry_base_seconds": 0.5, "send_retry_cap_seconds": 3}


async def _crash_stack(backend: str, database_url: str, tmp_path: Path, **settings: object) -> AsyncIterator[Stack]:
    """A stack for worker processes to be killed in: short leases and Postmark timeouts, capped retries."""
    if backend != "postgresql":
        pytest.skip("several worker processes are a PostgreSQL deployment (SQLite is single-process)")
    started = await start_stack(database_url, tmp_path / "var", lease_seconds=3, postmark_timeout_seconds=1,
                                **RETRY, **settings)
    yield started
    await started.close()


async def _each_sent_once(stack: Stack, engine: AsyncEngine, server_id: int, jobs: int) -> None:
    """Every job SENT, and Postmark got exactly one message per job (``tm_job`` metadata)."""
    assert (await job_statuses(engine)) == Counter({"SENT": jobs})
    messages = await stack.messages(server_id)
    per_job = Counter(m["Metadata"]["tm_job"] for m in messages)
    assert len(messages) == jobs and len(per_job) == jobs and max(per_job.values()) == 1


@pytest.fixture
async def stack(engine: AsyncEngine, database_url: str, backend: str, tmp_path: Path) -> AsyncIterator[Stack]:
    # one pass of 10 per worker, each send 0.3 s: ~65 jobs/s, so 1,000 take several kills' time
    async for started in _crash_stack(backend, database_url, tmp_path, dispatch_batch_size=10,
                                      dispatch_concurrency=1, worker_poll_seconds=0.05):
        yield started


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(timeout=10)


async def test_sigkilled_workers_neither_lose_nor_duplicate_a_message(stack: Stack, engine: AsyncEngine) -> None:
    config = await sendable_configuration(stack.app, "tenant-crash", "crash")
    await queue_jobs(stack.app, config, JOBS)
    await stack.app.postmark.account.get_server(config.server_id or 0)  # the sandbox is up
    await stack.delay_sends(0.3)

    steady, victim = stack.spawn("worker"), stack.spawn("worker")
    mid_dispatch_kills, deadline, rng = 0, time.monotonic() + DEADLINE_SECONDS, random.Random(7)
    try:
        while (sent := (await job_statuses(engine))["SENT"]) < JOBS and time.monotonic() < deadline \
                and mid_dispatch_kills < KILLS:
            await asyncio.sleep(rng.uniform(1.2, 2.5))  # start-up (~1 s) plus some dispatching
            kill(victim)
            mid_dispatch_kills += 0 < sent
            victim = stack.spawn("worker")
        await _until_all_sent(engine, JOBS, FINISH_SECONDS)
    finally:
        for proc in (steady, victim):
            kill(proc)

    await _each_sent_once(stack, engine, config.server_id or 0, JOBS)
    assert mid_dispatch_kills >= 2


async def _until_all_sent(engine: AsyncEngine, jobs: int, seconds: float) -> None:
    finish = time.monotonic() + seconds
    while (await job_statuses(engine))["SENT"] < jobs and time.monotonic() < finish:
        await asyncio.sleep(0.5)


PUSHED_JOBS = 600


@pytest.fixture
async def push_stack(engine: AsyncEngine, database_url: str, backend: str, tmp_path: Path) -> AsyncIterator[Stack]:
    """Workers woken by NOTIFY; the poll (2 s) only finds what a kill left behind (expired leases)."""
    async for started in _crash_stack(backend, database_url, tmp_path, dispatch_batch_size=25,
                                      dispatch_concurrency=4, worker_poll_seconds=2):
        yield started


async def _terminate_listeners(engine: AsyncEngine) -> int:
    """pg_terminate_backend of every worker's LISTEN connection on this database; how many there were."""
    async with engine.connect() as conn:
        killed = (await conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = :name"), {"name": APPLICATION_NAME})).all()
    return len(killed)


async def test_killed_listeners_and_workers_under_push_neither_lose_nor_duplicate(
    push_stack: Stack, engine: AsyncEngine,
) -> None:
    stack = push_stack
    config = await sendable_configuration(stack.app, "tenant-push", "push")
    await stack.delay_sends(0.1)

    async def produce() -> None:  # sends through the intake: each batch commits its NOTIFY
        for i in range(PUSHED_JOBS):
            request = SendRequest.parse(configuration_e_id=config.e_id, recipient=f"user{i}@example.com",
                                        subject=f"Message {i}", text_body="Hello.")
            await submit_send(stack.app.ctx, config.tenant_id, idempotency_key=f"push-{i}", request=request,
                              author="crash-test", render=lambda job: {"eId": job.e_id})
            await asyncio.sleep(0.015)

    steady, victim = stack.spawn("worker"), stack.spawn("worker")
    producing = asyncio.create_task(produce())
    listener_kills = worker_kills = 0
    deadline, rng = time.monotonic() + DEADLINE_SECONDS, random.Random(17)
    try:
        while time.monotonic() < deadline and worker_kills < KILLS and (
            not producing.done() or (await job_statuses(engine))["SENT"] < PUSHED_JOBS
        ):
            await asyncio.sleep(rng.uniform(1.2, 2.5))
            if (await job_statuses(engine))["SENT"] >= PUSHED_JOBS:
                break
            listener_kills += await _terminate_listeners(engine)  # both workers' LISTEN connections
            await asyncio.sleep(rng.uniform(0.2, 0.6))  # the victim is mid-pass and reconnecting
            kill(victim)
            worker_kills += 1
            victim = stack.spawn("worker")
        await producing
        await _until_all_sent(engine, PUSHED_JOBS, FINISH_SECONDS)
    finally:
        producing.cancel()
        for proc in (steady, victim):
            kill(proc)

    await _each_sent_once(stack, engine, config.server_id or 0, PUSHED_JOBS)
    assert listener_kills >= 2 and worker_kills >= 2
