"""The dispatch loop's shape (entrypoints/worker.run_dispatch, services/dispatch_jobs.ClaimSize):
claims adapt to the queue, at most DISPATCH_CONCURRENCY passes send at once, and an idle loop
is woken by a notification, not by its poll. In memory: no database, no Postmark."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from tenantmail.adapters.db.job_wakeup import LocalJobWakeup
from tenantmail.domain.job import EmailJob
from tenantmail.entrypoints import worker
from tenantmail.services.dispatch_jobs import ClaimSize
from tenantmail.services.ports import ClaimedJob, JobClaim


def test_claim_size_grows_while_claims_come_back_full_and_shrinks_when_they_do_not() -> None:
    size = ClaimSize(500)
    assert size.current == 8  # a short queue: small claims
    for _ in range(10):
        size.claimed(size.current)  # full every time: a long queue
    assert size.current == 500  # Postmark's batch limit, never more
    size.claimed(500)
    assert size.current == 500
    size.claimed(3)
    assert size.current == 250
    for _ in range(10):
        size.claimed(0)
    assert size.current == 8
    size.claimed(5)  # more than half: stays
    assert size.current == 8


class Queue:
    """Hands out ``jobs`` claimed ``limit`` at a time, recording the limits and exclusions asked
    for; each claim's jobs belong to one configuration (a new one each time unless ``one``)."""

    def __init__(self, jobs: int, *, one: bool = False) -> None:
        self.left, self.one = jobs, one
        self.limits: list[int] = []
        self.excluded: list[list[str]] = []
        self.claimed = asyncio.Event()

    async def claim_jobs(self, now: datetime, limit: int, *, fair: bool = False,
                         exclude_configurations: Sequence[str] = ()) -> JobClaim:
        assert fair
        n = len(self.limits)
        self.limits.append(limit)
        self.excluded.append(list(exclude_configurations))
        config = "c" if self.one else f"c{n}"
        if config in exclude_configurations:
            return JobClaim([], exhausted=True)
        taken, self.left = min(limit, self.left), self.left - min(limit, self.left)
        if taken:
            self.claimed.set()
        jobs = [EmailJob.queue(tenant_id="t", configuration_e_id=config, recipient=f"r{i}@example.com", subject="s",
                               idempotency_key=f"k{n}-{i}", now=now, text_body="b") for i in range(taken)]
        return JobClaim([ClaimedJob(job, reclaimed=False) for job in jobs], exhausted=taken < limit)


def context(queue: Queue, *, concurrency: int, poll: float) -> Any:
    settings = SimpleNamespace(dispatch_batch_size=500, dispatch_concurrency=concurrency, dispatch_fair=True,
                               worker_poll_seconds=poll)
    return SimpleNamespace(settings=settings, work=queue, wakeup=LocalJobWakeup(),
                           clock=lambda: datetime(2026, 12, 7, tzinfo=UTC))


async def test_at_most_concurrency_passes_send_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    queue, release = Queue(10_000), asyncio.Event()
    in_flight, most = 0, 0

    async def slow_pass(ctx: Any, claim: JobClaim) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await release.wait()
        in_flight -= 1

    monkeypatch.setattr(worker, "dispatch_claimed", slow_pass)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_dispatch(context(queue, concurrency=3, poll=3600), stop))
    while in_flight < 3:
        await asyncio.sleep(0)
    for _ in range(50):
        await asyncio.sleep(0)
    assert most == 3 and len(queue.limits) == 3  # the fourth claim waits for a free slot
    assert queue.limits == [8, 16, 32]  # each came back full: the queue is long
    release.set()
    stop.set()
    await task


async def test_one_configuration_leaves_a_slot_to_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    queue, release = Queue(10_000, one=True), asyncio.Event()
    in_flight = 0

    async def slow_pass(ctx: Any, claim: JobClaim) -> None:
        nonlocal in_flight
        in_flight += 1
        await release.wait()
        in_flight -= 1

    monkeypatch.setattr(worker, "dispatch_claimed", slow_pass)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_dispatch(context(queue, concurrency=3, poll=3600), stop))
    while len(queue.limits) < 3:
        await asyncio.sleep(0)
    assert in_flight == 2 and queue.excluded[:3] == [[], [], ["c"]]  # the third slot: not for "c"
    release.set()  # its passes end: "c" may be claimed again, without waiting for the poll
    while len(queue.limits) < 5:
        await asyncio.sleep(0)
    assert queue.excluded[3] == []
    stop.set()
    await task


async def test_an_idle_loop_is_woken_by_a_notification_not_its_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    queue = Queue(0)
    sent: list[int] = []

    async def record(ctx: Any, claim: JobClaim) -> None:
        sent.append(len(claim.jobs))

    monkeypatch.setattr(worker, "dispatch_claimed", record)
    ctx, stop = context(queue, concurrency=2, poll=3600), asyncio.Event()
    task = asyncio.create_task(worker.run_dispatch(ctx, stop))
    while not queue.limits:
        await asyncio.sleep(0)
    queue.left = 1  # a job is committed, then its notification arrives
    ctx.wakeup.notify()
    await asyncio.wait_for(queue.claimed.wait(), 60)  # the poll is an hour away
    stop.set()
    await task
    assert sent == [1]


async def test_after_a_claim_that_took_all_that_was_due_the_loop_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lone send: its pass calls Postmark without a second, empty claim beside it in the event
    loop; the next claim comes with a wake-up or when the pass ends."""
    queue, release = Queue(1), asyncio.Event()

    async def slow_pass(ctx: Any, claim: JobClaim) -> None:
        await release.wait()

    monkeypatch.setattr(worker, "dispatch_claimed", slow_pass)
    ctx, stop = context(queue, concurrency=4, poll=3600), asyncio.Event()
    task = asyncio.create_task(worker.run_dispatch(ctx, stop))
    await asyncio.wait_for(queue.claimed.wait(), 60)
    for _ in range(50):
        await asyncio.sleep(0)
    assert len(queue.limits) == 1  # three slots free, yet no claim: the last one was exhausted
    ctx.wakeup.notify()  # new jobs committed
    await asyncio.wait_for(claims_reach(queue, 2), 60)
    for _ in range(50):
        await asyncio.sleep(0)
    assert len(queue.limits) == 2
    release.set()  # the pass ends: one more claim, then the poll is an hour away
    await asyncio.wait_for(claims_reach(queue, 3), 60)
    stop.set()
    await task


async def claims_reach(queue: Queue, count: int) -> None:
    while len(queue.limits) < count:
        await asyncio.sleep(0)
