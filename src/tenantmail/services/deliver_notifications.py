"""Deliver the notification outbox to the calling services' endpoints (SPEC §17, decisions D20).

The worker keeps up to ``notification_concurrency`` attempts in flight, at most
``PER_ENDPOINT_IN_FLIGHT`` per endpoint, each its own task: a slow or dead receiver holds only its
own slots (and the short ``notification_timeout_seconds``), never dispatch nor other endpoints.

One attempt: render the body once (the subject's view as the API answers it, frozen in the row so
every retry sends the same bytes under the same ``webhook-id``), sign it with each secret that
signs now (Standard Webhooks), POST it, record the outcome:

    2xx           delivered
    410 Gone      the endpoint is disabled at once (the row waits, pending, for it to be re-enabled)
    anything else retried with backoff and full jitter until ``notification_give_up_hours`` after
                  the event (then ``failed``; a manual retry revives it); an endpoint whose every
                  attempt failed for 24 h is disabled (``DisabledReason.FAILING``), loudly.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from tenantmail.domain.errors import NotFound
from tenantmail.domain.notification import (
    FAILING_WINDOW,
    AttemptOutcome,
    DeliveryState,
    DisabledReason,
    NotificationEndpoint,
    SubjectKind,
    outcome_of,
    signature_header,
    subject_kind,
)
from tenantmail.domain.retry import RetryPolicy
from tenantmail.services.context import ServiceContext
from tenantmail.services.ports.notifications import AttemptRecord, ClaimedDelivery, ReceiverAnswer

#: Attempts one endpoint may have in flight in one worker: a slow receiver keeps at most these.
PER_ENDPOINT_IN_FLIGHT = 16
#: How old a failing streak must be before a success clears it (see ``_changes_health``).
STREAK_CLEARED_AFTER = timedelta(minutes=1)
NOTIFICATION = "email.notification"
log = structlog.get_logger("tenantmail.notifications")


#: The notification loop's idle poll, at least: a claim is a write transaction on SQLite (every
#: transaction takes the write lock there), so an idle worker polling every 50 ms would take the
#: lock from the API and the other loops 20 times a second. A busy loop goes again at once.
IDLE_POLL_SECONDS = 1.0


def notification_idle_seconds(ctx: ServiceContext) -> float:
    return max(ctx.settings.worker_poll_seconds, IDLE_POLL_SECONDS)


def retry_policy(ctx: ServiceContext) -> RetryPolicy:
    s = ctx.settings
    return RetryPolicy(s.notification_retry_base_seconds, s.notification_retry_cap_seconds,
                       timedelta(hours=s.notification_give_up_hours))


@dataclass(frozen=True)
class Ready:
    """A claimed row with what its attempt needs: the endpoint (secrets sealed) and the body."""

    delivery: ClaimedDelivery
    endpoint: NotificationEndpoint
    body: str


class NotificationDelivery:
    """The worker loop's step (``entrypoints/worker.py``): claims what it has room for.

    Each step first records the outcomes of the attempts finished since the last one (one
    round trip), then claims, renders the new rows' bodies (one read per tenant, one write) and
    starts one task per attempt; a task only signs and POSTs. An outcome not yet recorded when
    the process dies is an attempt made again after the lease: at least once, same webhook-id.
    """

    def __init__(self) -> None:
        self._in_flight: dict[asyncio.Task[None], str] = {}  #: task → endpoint eId
        self._finished: list[tuple[ClaimedDelivery, NotificationEndpoint, ReceiverAnswer]] = []

    async def step(self, ctx: ServiceContext) -> int:
        if ctx.notification_queue is None or ctx.notification_sender is None:
            return 0
        recorded = await self._record(ctx)
        room = ctx.settings.notification_concurrency - len(self._in_flight)
        if room <= 0:  # full: wait for one to finish (a busy loop would only spin)
            await asyncio.wait(set(self._in_flight), return_when=asyncio.FIRST_COMPLETED)
            return 1
        per_endpoint: dict[str, int] = {}
        for endpoint in self._in_flight.values():
            per_endpoint[endpoint] = per_endpoint.get(endpoint, 0) + 1
        busy = [e for e, n in per_endpoint.items() if n >= PER_ENDPOINT_IN_FLIGHT]
        claimed = await ctx.notification_queue.claim(ctx.clock(), min(room, 100), exclude_endpoints=busy)
        for ready in await _prepare(ctx, claimed):
            task = asyncio.create_task(self._attempt(ctx, ready))
            self._in_flight[task] = ready.delivery.endpoint_e_id
            task.add_done_callback(self._done)
        if not claimed and self._in_flight:
            # nothing more now (or only for endpoints at their cap): the next finished attempt may
            # free a slot or a job's next event, so wait for one rather than for the idle poll
            done, _ = await asyncio.wait(set(self._in_flight), timeout=ctx.settings.worker_poll_seconds,
                                         return_when=asyncio.FIRST_COMPLETED)
            return len(done)
        return len(claimed) + recorded

    async def _attempt(self, ctx: ServiceContext, ready: Ready) -> None:
        sender = ctx.notification_sender
        assert sender is not None
        now, delivery = ctx.clock(), ready.delivery
        secrets = [ctx.cipher.decrypt(sealed, aad=ready.endpoint.e_id) for sealed in ready.endpoint.signing_secrets(now)]
        timestamp, raw = int(now.timestamp()), ready.body.encode()
        headers = {"webhook-id": delivery.message_id, "webhook-timestamp": str(timestamp),
                   "webhook-signature": signature_header(secrets, delivery.message_id, timestamp, raw)}
        answer = await sender.post(ready.endpoint.url, headers, raw)
        self._finished.append((delivery, ready.endpoint, answer))

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            # the row stays leased until its lease ends, then it is tried again
            log.error(f"{NOTIFICATION}.attempt_crashed", error=repr(task.exception()))

    async def _record(self, ctx: ServiceContext) -> int:
        finished, self._finished = self._finished, []
        if finished:
            await record(ctx, finished)
        return len(finished)

    async def drain(self, ctx: ServiceContext) -> None:
        """Let the attempts in flight finish and record them (a graceful stop; the tests)."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight))
        await self._record(ctx)


async def _prepare(ctx: ServiceContext, claimed: list[ClaimedDelivery]) -> list[Ready]:
    """The endpoints of the claimed rows, and the bodies of those never attempted (rendered now,
    stored before the first attempt so every retry sends the same bytes), per tenant."""
    by_tenant: dict[str, list[ClaimedDelivery]] = defaultdict(list)
    for delivery in claimed:
        by_tenant[delivery.tenant_id].append(delivery)
    ready: list[Ready] = []
    rendered: list[tuple[int, str]] = []
    for tenant, rows in by_tenant.items():
        async with ctx.uow(tenant) as uow:
            endpoints = {e.e_id: e for e in await uow.notifications.get_many({r.endpoint_e_id for r in rows})}
            bodies = await _render(ctx, uow, [r for r in rows if r.body is None])
        for row in rows:
            if row.endpoint_e_id not in endpoints:  # deleted meanwhile, its rows with it
                continue
            body = row.body or bodies[row.seq]
            if row.body is None:
                rendered.append((row.seq, body))
            ready.append(Ready(row, endpoints[row.endpoint_e_id], body))
    assert ctx.notification_queue is not None
    await ctx.notification_queue.keep_bodies(rendered)
    return ready


async def _render(ctx: ServiceContext, uow: Any, rows: list[ClaimedDelivery]) -> dict[int, str]:
    """Each row's body: ``{"type", "timestamp", "data"}``, ``data`` the subject as the API shows it
    (as it is at the first attempt; an event whose subject was purged carries ``{"eId"}`` only)."""
    views = ctx.notification_views
    assert views is not None
    kinds = {row.seq: subject_kind(row.type) for row in rows}
    job_ids = [row.subject_id for row in rows if kinds[row.seq] is SubjectKind.JOB]
    jobs = {job.e_id: views.job(job) for job in await uow.jobs.get_many(job_ids)} if job_ids else {}
    bodies = {}
    for row in rows:
        data: dict[str, Any] | None = jobs.get(row.subject_id) if kinds[row.seq] is SubjectKind.JOB else None
        try:
            if kinds[row.seq] is SubjectKind.SUPPRESSION:
                data = views.suppression(await uow.suppressions.get(row.subject_id))
            elif kinds[row.seq] is SubjectKind.CONFIGURATION:
                data = views.configuration(await uow.configurations.get(row.subject_id))
        except NotFound:
            data = None
        bodies[row.seq] = json.dumps({"type": row.type.value, "timestamp": row.occurred_at.isoformat(),
                                      "data": data if data is not None else {"eId": row.subject_id}},
                                     separators=(",", ":"))
    return bodies


Finished = tuple[ClaimedDelivery, NotificationEndpoint, ReceiverAnswer]


async def record(ctx: ServiceContext, finished: list[Finished]) -> None:
    """The outcomes of finished attempts (one write), then any change of their endpoints' health."""
    queue = ctx.notification_queue
    assert queue is not None
    at, policy = ctx.clock(), retry_policy(ctx)
    attempts: list[tuple[int, AttemptRecord]] = []
    health: dict[str, tuple[str, NotificationEndpoint, AttemptOutcome]] = {}
    for delivery, endpoint, answer in finished:
        outcome = outcome_of(answer.status_code)
        if outcome is AttemptOutcome.DELIVERED:
            state, next_at = DeliveryState.DELIVERED, None
        elif outcome is AttemptOutcome.GONE:
            state, next_at = DeliveryState.PENDING, at  # waits for the endpoint to be enabled again
        else:
            next_at = policy.next_attempt(accepted_at=delivery.created_at, attempt=delivery.attempts + 1, now=at)
            state = DeliveryState.PENDING if next_at is not None else DeliveryState.FAILED
        attempts.append((delivery.seq, AttemptRecord(state=state, at=at, next_attempt_at=next_at,
                                                     status_code=answer.status_code, latency_ms=answer.latency_ms,
                                                     error=answer.error)))
        ctx.telemetry.emit(f"{NOTIFICATION}.attempt", labels={"outcome": outcome.value},
                           level="debug" if state is DeliveryState.DELIVERED else "info",
                           tenant_id=delivery.tenant_id, endpoint_id=endpoint.e_id, webhook_id=delivery.message_id,
                           status_code=answer.status_code, latency_ms=answer.latency_ms)
        if state is DeliveryState.FAILED:
            ctx.telemetry.emit(f"{NOTIFICATION}.gave_up", level="warning", tenant_id=delivery.tenant_id,
                               endpoint_id=endpoint.e_id, webhook_id=delivery.message_id)
        if endpoint.e_id not in health or outcome is not AttemptOutcome.DELIVERED:  # a failure outweighs a success
            health[endpoint.e_id] = (delivery.tenant_id, endpoint, outcome)
    await queue.record_attempts(attempts)
    for tenant, endpoint, outcome in health.values():
        await _endpoint_health(ctx, tenant, endpoint, outcome)


def _changes_health(seen: NotificationEndpoint, outcome: AttemptOutcome, at: datetime) -> bool:
    """Whether this outcome changes what the endpoint row says, as it was read for the attempt.

    Most attempts write nothing: a success while healthy, a failure inside a streak already
    recorded. A success clears a streak only once it is ``STREAK_CLEARED_AFTER`` old, so a receiver
    failing every other request does not make each attempt write the endpoint row (its one lock
    would serialise the worker): a streak is then cleared once a minute, and "failing for 24 h"
    still means "no success for 24 h" to within that minute."""
    if outcome is AttemptOutcome.GONE:
        return True
    if seen.failing_since is None:
        return outcome is AttemptOutcome.RETRY
    streak = at - seen.failing_since
    if outcome is AttemptOutcome.DELIVERED:
        return streak >= STREAK_CLEARED_AFTER
    return streak >= FAILING_WINDOW


async def _endpoint_health(ctx: ServiceContext, tenant_id: str, seen: NotificationEndpoint,
                           outcome: AttemptOutcome) -> None:
    """Success clears the failing streak; 410 disables at once; a streak of 24 h disables."""
    at = ctx.clock()
    if not _changes_health(seen, outcome, at):
        return
    disabled: DisabledReason | None = None
    async with ctx.uow(tenant_id) as uow:
        try:
            endpoint = await uow.notifications.get(seen.e_id, for_update=True)
        except NotFound:
            return
        if outcome is AttemptOutcome.DELIVERED:
            endpoint.failing_since = None
        elif outcome is AttemptOutcome.GONE:
            if endpoint.enabled:
                endpoint.disable(DisabledReason.GONE, at)
                disabled = DisabledReason.GONE
        elif endpoint.record_failure(at):
            disabled = DisabledReason.FAILING
        await uow.notifications.save(endpoint)
        await uow.commit()
    if disabled is not None:
        ctx.telemetry.emit(
            f"{NOTIFICATION}.endpoint_disabled", labels={"reason": disabled.value}, level="error", sentry=True,
            fingerprint=[f"{NOTIFICATION}.endpoint_disabled", seen.e_id], tenant_id=tenant_id, endpoint_id=seen.e_id,
        )
