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
PER_ENDPOINT_IN_FLIGHT = 8
#: How old a failing streak must be before a success clears it (see ``_changes_health``).
STREAK_CLEARED_AFTER = timedelta(minutes=1)
NOTIFICATION = "email.notification"
log = structlog.get_logger("tenantmail.notifications")


def retry_policy(ctx: ServiceContext) -> RetryPolicy:
    s = ctx.settings
    return RetryPolicy(s.notification_retry_base_seconds, s.notification_retry_cap_seconds,
                       timedelta(hours=s.notification_give_up_hours))


class NotificationDelivery:
    """The worker loop's step (``entrypoints/worker.py``): claims what it has room for."""

    def __init__(self) -> None:
        self._in_flight: dict[asyncio.Task[None], str] = {}  #: task → endpoint eId

    async def step(self, ctx: ServiceContext) -> int:
        if ctx.notification_queue is None or ctx.notification_sender is None:
            return 0
        room = ctx.settings.notification_concurrency - len(self._in_flight)
        if room <= 0:  # full: wait for one to finish (a busy loop would only spin)
            await asyncio.wait(set(self._in_flight), return_when=asyncio.FIRST_COMPLETED)
            return 1
        per_endpoint: dict[str, int] = {}
        for endpoint in self._in_flight.values():
            per_endpoint[endpoint] = per_endpoint.get(endpoint, 0) + 1
        busy = [e for e, n in per_endpoint.items() if n >= PER_ENDPOINT_IN_FLIGHT]
        claimed = await ctx.notification_queue.claim(ctx.clock(), min(room, 100), exclude_endpoints=busy)
        for delivery in claimed:
            task = asyncio.create_task(attempt(ctx, delivery))
            self._in_flight[task] = delivery.endpoint_e_id
            task.add_done_callback(self._finished)
        return len(claimed)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            # the row stays leased until its lease ends, then it is tried again
            log.error(f"{NOTIFICATION}.attempt_crashed", error=repr(task.exception()))

    async def drain(self) -> None:
        """Let the attempts in flight finish (a graceful stop)."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight))


async def attempt(ctx: ServiceContext, delivery: ClaimedDelivery) -> None:
    queue, sender = ctx.notification_queue, ctx.notification_sender
    assert queue is not None and sender is not None
    try:
        async with ctx.uow(delivery.tenant_id) as uow:
            endpoint = await uow.notifications.get(delivery.endpoint_e_id)
            body = delivery.body or await _render(ctx, uow, delivery)
    except NotFound:  # the endpoint was deleted meanwhile (its rows with it)
        return
    if delivery.body is None:
        body = await queue.keep_body(delivery.seq, body)
    now = ctx.clock()
    secrets = [ctx.cipher.decrypt(sealed, aad=endpoint.e_id) for sealed in endpoint.signing_secrets(now)]
    timestamp = int(now.timestamp())
    raw = body.encode()
    headers = {"webhook-id": delivery.message_id, "webhook-timestamp": str(timestamp),
               "webhook-signature": signature_header(secrets, delivery.message_id, timestamp, raw)}
    answer = await sender.post(endpoint.url, headers, raw)
    await _record(ctx, delivery, endpoint, answer)


async def _render(ctx: ServiceContext, uow: Any, delivery: ClaimedDelivery) -> str:
    views = ctx.notification_views
    assert views is not None
    kind = subject_kind(delivery.type)
    try:
        if kind is SubjectKind.JOB:
            data = views.job(await uow.jobs.get(delivery.subject_id))
        elif kind is SubjectKind.SUPPRESSION:
            data = views.suppression(await uow.suppressions.get(delivery.subject_id))
        else:
            data = views.configuration(await uow.configurations.get(delivery.subject_id))
    except NotFound:  # purged since: the event still happened
        data = {"eId": delivery.subject_id}
    return json.dumps({"type": delivery.type.value, "timestamp": delivery.occurred_at.isoformat(), "data": data},
                      separators=(",", ":"))


async def _record(ctx: ServiceContext, delivery: ClaimedDelivery, endpoint: NotificationEndpoint,
                  answer: ReceiverAnswer) -> None:
    queue = ctx.notification_queue
    assert queue is not None
    at = ctx.clock()
    outcome = outcome_of(answer.status_code)
    labels = {"outcome": outcome.value}
    if outcome is AttemptOutcome.DELIVERED:
        state, next_at = DeliveryState.DELIVERED, None
    elif outcome is AttemptOutcome.GONE:
        state, next_at = DeliveryState.PENDING, at  # waits for the endpoint to be enabled again
    else:
        next_at = retry_policy(ctx).next_attempt(accepted_at=delivery.created_at, attempt=delivery.attempts + 1, now=at)
        state = DeliveryState.PENDING if next_at is not None else DeliveryState.FAILED
    await queue.record_attempt(delivery.seq, AttemptRecord(
        state=state, at=at, next_attempt_at=next_at, status_code=answer.status_code,
        latency_ms=answer.latency_ms, error=answer.error))
    ctx.telemetry.emit(f"{NOTIFICATION}.attempt", labels=labels, level="debug" if state is DeliveryState.DELIVERED
                       else "info", tenant_id=delivery.tenant_id, endpoint_id=endpoint.e_id,
                       webhook_id=delivery.message_id, status_code=answer.status_code, latency_ms=answer.latency_ms)
    if state is DeliveryState.FAILED:
        ctx.telemetry.emit(f"{NOTIFICATION}.gave_up", level="warning", tenant_id=delivery.tenant_id,
                           endpoint_id=endpoint.e_id, webhook_id=delivery.message_id)
    await _endpoint_health(ctx, delivery.tenant_id, endpoint, outcome)


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
