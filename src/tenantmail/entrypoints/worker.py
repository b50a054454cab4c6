"""The worker: a few independent loops over the service context, until asked to stop.

Each loop calls one service function ``async (ctx) -> int`` that does a bounded amount of work
and returns how many items it handled; a loop that found work goes again at once, an idle one
sleeps. Several worker processes (and the embedded one inside ``serve``) can run side by side:
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
from tenantmail.services.deliver_notifications import NotificationDelivery, notification_idle_seconds
from tenantmail.services.dispatch_jobs import dispatch_jobs

log = structlog.get_logger("tenantmail.worker")

Step = Callable[[ServiceContext], Awaitable[int]]
ERROR_BACKOFF_SECONDS = 2.0


@dataclass(frozen=True)
class Loop:
    name: str
    step: Step
    idle_seconds: Callable[[ServiceContext], float]


def _poll(ctx: ServiceContext) -> float:
    return ctx.settings.worker_poll_seconds


def default_loops() -> list[Loop]:
    """The worker's loops. Each capability adds its own line here."""
    return [
        Loop("drift", detect_drift.drift_tick, detect_drift.tick_check_seconds),
        Loop("key-sweep", rotate_keys.sweep_tick, detect_drift.tick_check_seconds),
        Loop("dispatch", dispatch_jobs, _poll),
        Loop("notifications", NotificationDelivery().step, notification_idle_seconds),
        Loop("provisioning", provision_configuration.provision_claimed, _poll),
        Loop("verification", poll_verification.poll_due_verifications, _poll),
        Loop("housekeeping", housekeeping.purge_tick, detect_drift.tick_check_seconds),
        Loop("state-gauge", lifecycle_gauges.refresh_state_gauge, lambda ctx: lifecycle_gauges.REFRESH_SECONDS),
    ]


async def _run_loop(ctx: ServiceContext, loop: Loop, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            handled = await loop.step(ctx)
            delay = 0.0 if handled else loop.idle_seconds(ctx)
        except Exception as exc:  # one bad pass must not kill the loop; it is reported and retried
            log.exception("email.worker.loop_failed", loop=loop.name)
            sentry_sdk.capture_exception(exc)  # a no-op unless TENANTMAIL_SENTRY_DSN is set
            delay = ERROR_BACKOFF_SECONDS
        if delay:
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass
        else:
            await asyncio.sleep(0)  # let the event loop breathe between busy passes


async def run_worker(ctx: ServiceContext, stop: asyncio.Event, loops: list[Loop] | None = None) -> None:
    """Run every loop until ``stop`` is set; in-flight passes finish before this returns."""
    chosen = default_loops() if loops is None else loops
    log.info("email.worker.started", loops=[loop.name for loop in chosen], owner=ctx.work.owner)
    await asyncio.gather(*(_run_loop(ctx, loop, stop) for loop in chosen))
    log.info("email.worker.stopped", owner=ctx.work.owner)
