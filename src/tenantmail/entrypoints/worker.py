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
from collections import Counter
from dataclasses import dataclass

import sentry_sdk
import structlog

from tenantmail.services import detect_drift, housekeeping, rotate_keys
from tenantmail.services import lifecycle_gauges, poll_verification, provision_configuration
from tenantmail.services.context import ServiceContext
from tenantmail.services.deliver_notifications import NotificationDelivery, notification_idle_seconds
from tenantmail.services.dispatch_jobs import ClaimSize, claim_jobs, dispatch_claimed, dispatch_jobs
from tenantmail.services.ports import JobClaim

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
        Loop("notifications", NotificationDelivery().step, notification_idle_seconds),
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
    ``TENANTMAIL_DISPATCH_CONCURRENCY`` passes (Postmark calls) in flight. One configuration holds
    at most all slots but one (with fair claims): the last is kept for the others, so another
    configuration's send does not wait behind a backlog's passes.

    After a claim that took all that was due (``exhausted``: nothing, or a lone send) it waits for
    a wake-up (new jobs committed since the claim began), a pass ending (its configuration may be
    claimed again, a job it put back may be due), the poll interval, or ``stop`` — rather than
    claim again at once, which would find nothing and hold the event loop while the pass it just
    started calls Postmark. Passes in flight finish before this returns."""
    concurrency = ctx.settings.dispatch_concurrency
    most_per_configuration = concurrency - 1 if ctx.settings.dispatch_fair and concurrency > 1 else concurrency
    size = ClaimSize(ctx.settings.dispatch_batch_size)
    slots = asyncio.Semaphore(concurrency)
    sending: set[asyncio.Task[None]] = set()
    held: Counter[str] = Counter()  #: passes in flight per configuration
    ended = asyncio.Event()

    def finished(task: asyncio.Task[None], configurations: set[str]) -> None:
        sending.discard(task)
        held.subtract(configurations)
        slots.release()
        ended.set()

    if ctx.wakeup is not None:
        ctx.wakeup.start()
    try:
        while not stop.is_set():
            await slots.acquire()
            if ctx.wakeup is not None:
                ctx.wakeup.clear()  # what is committed from now on wakes the idle wait below
            ended.clear()
            full = {config for config, passes in held.items() if passes >= most_per_configuration}
            try:
                claim = await claim_jobs(ctx, size.current, full)
            except Exception as exc:  # the database is away: report, back off, try again
                slots.release()
                _report(exc)
                await _sleep(stop, ERROR_BACKOFF_SECONDS)
                continue
            claimed = claim.jobs
            if claimed or not full:
                size.claimed(len(claimed))
            if claimed:
                configurations = {job.configuration_e_id for job in claimed}
                held.update(configurations)
                task = asyncio.create_task(_send(ctx, claim))
                sending.add(task)
                task.add_done_callback(lambda done, c=configurations: finished(done, c))
                await asyncio.sleep(0)
            else:
                slots.release()
            if not claimed or claim.exhausted:
                await _idle(ctx, stop, ended if full or sending else None)
    finally:
        await asyncio.gather(*sending, return_exceptions=True)


async def _send(ctx: ServiceContext, claim: JobClaim) -> None:
    try:
        await dispatch_claimed(ctx, claim)
    except Exception as exc:  # the jobs stay SENDING under our lease: reclaimed and reconciled later
        _report(exc)


async def _idle(ctx: ServiceContext, stop: asyncio.Event, ended: asyncio.Event | None) -> None:
    """Until new jobs are committed (the wake-up), a pass ends (``ended``: a configuration left
    out of the last claim may be claimed again), the poll interval passes, or ``stop``."""
    poll = ctx.settings.worker_poll_seconds
    waits = {asyncio.ensure_future(stop.wait())}
    if ended is not None:
        waits.add(asyncio.ensure_future(ended.wait()))
    if ctx.wakeup is not None:
        waits.add(asyncio.ensure_future(ctx.wakeup.wait(poll)))
    _, pending = await asyncio.wait(waits, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
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
