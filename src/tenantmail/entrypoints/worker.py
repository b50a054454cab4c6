"""The worker: a few independent loops over the service context, until asked to stop.

Each loop calls one service function ``async (ctx) -> int`` that does a bounded amount of work
and returns how many items it handled; a loop that found work goes again at once, an idle one
sleeps. Dispatch is the exception (:func:`run_dispatch`): it claims one pass at a time but keeps
up to ``TENANTMAIL_DISPATCH_CONCURRENCY`` passes sending at once, and an idle dispatch is woken by
new jobs (SPEC §16), its poll only the fallback. Several worker processes (and the embedded one inside ``serve``) can run side by side:
they share work only through the database (leases and ticks in ``adapters/db/work_queue.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sentry_sdk
import structlog

from tenantmail.services import detect_drift, housekeeping, rotate_keys
from tenantmail.services import lifecycle_gauges, poll_verification, provision_configuration
from tenantmail.services.context import ServiceContext
from tenantmail.services.dispatch_jobs import ClaimSize, claim_jobs, dispatch_claimed, dispatch_jobs
from tenantmail.services.ports import ClaimedJob

log = structlog.get_logger("tenantmail.worker")

Step = Callable[[ServiceContext], Awaitable[int]]
ERROR_BACKOFF_SECONDS = 2.0


@dataclass(frozen=True)
class Loop:
    name: str
    step: Step
    idle_seconds: Callable[[ServiceContext], float]
    #: runs the loop itself instead of step-then-sleep (dispatch: concurrent passes, wake-up)
    runner: Callable[[ServiceContext, asyncio.Event], Awaitable[None]] | None = None


def _poll(ctx: ServiceContext) -> float:
    return ctx.settings.worker_poll_seconds


def default_loops() -> list[Loop]:
    """The worker's loops. Each capability adds its own line here."""
    return [
        Loop("drift", detect_drift.drift_tick, detect_drift.tick_check_seconds),
        Loop("key-sweep", rotate_keys.sweep_tick, detect_drift.tick_check_seconds),
        Loop("dispatch", dispatch_jobs, _poll, runner=lambda ctx, stop: run_dispatch(ctx, stop)),
        Loop("provisioning", provision_configuration.provision_claimed, _poll),
        Loop("verification", poll_verification.poll_due_verifications, _poll),
        Loop("housekeeping", housekeeping.purge_tick, detect_drift.tick_check_seconds),
        Loop("state-gauge", lifecycle_gauges.refresh_state_gauge, lambda ctx: lifecycle_gauges.REFRESH_SECONDS),
    ]


async def _run_loop(ctx: ServiceContext, loop: Loop, stop: asyncio.Event) -> None:
    if loop.runner is not None:
        return await loop.runner(ctx, stop)
    while not stop.is_set():
        try:
            handled = await loop.step(ctx)
            delay = 0.0 if handled else loop.idle_seconds(ctx)
        except Exception as exc:  # one bad pass must not kill the loop; it is reported and retried
            log.exception("email.worker.loop_failed", loop=loop.name)
            sentry_sdk.capture_exception(exc)  # a no-op unless TENANTMAIL_SENTRY_DSN is set
            delay = ERROR_BACKOFF_SECONDS
        if delay:
            await _sleep(stop, delay)
        else:
            await asyncio.sleep(0)  # let the event loop breathe between busy passes


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


async def run_dispatch(ctx: ServiceContext, stop: asyncio.Event) -> None:
    """Dispatch until ``stop``: claim (one claim at a time, sized by :class:`ClaimSize`), hand the
    claimed jobs to a sending pass and claim again while a slot is free — at most
    ``TENANTMAIL_DISPATCH_CONCURRENCY`` passes (Postmark calls) in flight. When nothing is due it
    waits for a wake-up (new jobs committed), or the poll interval, or ``stop``. Passes in flight
    finish before this returns."""
    size = ClaimSize(ctx.settings.dispatch_batch_size)
    slots = asyncio.Semaphore(ctx.settings.dispatch_concurrency)
    sending: set[asyncio.Task[None]] = set()

    def finished(task: asyncio.Task[None]) -> None:
        sending.discard(task)
        slots.release()

    if ctx.wakeup is not None:
        ctx.wakeup.start()
    try:
        while not stop.is_set():
            await slots.acquire()
            if ctx.wakeup is not None:
                ctx.wakeup.clear()  # what is committed from now on wakes the idle wait below
            try:
                claimed = await claim_jobs(ctx, size.current)
            except Exception as exc:  # the database is away: report, back off, try again
                slots.release()
                _report(exc)
                await _sleep(stop, ERROR_BACKOFF_SECONDS)
                continue
            size.claimed(len(claimed))
            if claimed:
                task = asyncio.create_task(_send(ctx, claimed))
                sending.add(task)
                task.add_done_callback(finished)
                await asyncio.sleep(0)
            else:
                slots.release()
                await _idle(ctx, stop)
    finally:
        await asyncio.gather(*sending, return_exceptions=True)


async def _send(ctx: ServiceContext, claimed: list[ClaimedJob]) -> None:
    try:
        await dispatch_claimed(ctx, claimed)
    except Exception as exc:  # the jobs stay SENDING under our lease: reclaimed and reconciled later
        _report(exc)


async def _idle(ctx: ServiceContext, stop: asyncio.Event) -> None:
    """Until new jobs are committed (the wake-up), the poll interval passes, or ``stop``."""
    poll = ctx.settings.worker_poll_seconds
    if ctx.wakeup is None:
        return await _sleep(stop, poll)
    waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(ctx.wakeup.wait(poll))}
    _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for future in pending:
        future.cancel()


def _report(exc: Exception) -> None:
    log.error("email.worker.loop_failed", loop="dispatch", exc_info=exc)
    sentry_sdk.capture_exception(exc)


async def run_worker(ctx: ServiceContext, stop: asyncio.Event, loops: list[Loop] | None = None) -> None:
    """Run every loop until ``stop`` is set; in-flight passes finish before this returns."""
    chosen = default_loops() if loops is None else loops
    log.info("email.worker.started", loops=[loop.name for loop in chosen], owner=ctx.work.owner)
    await asyncio.gather(*(_run_loop(ctx, loop, stop) for loop in chosen))
    log.info("email.worker.stopped", owner=ctx.work.owner)
