"""Dispatch: send claimed jobs to Postmark and record what happened (SPEC §5).

One pass claims due jobs (QUEUED, or SENDING under an expired lease: their worker died mid-call),
round-robin across configurations, as many as :class:`ClaimSize` says — the claim returns the jobs'
rows and their configurations, read as it claimed them, so nothing is read again before the call;
groups them by configuration and, per group, with that server's token: reconciles the jobs whose last call may have reached Postmark (search by ``tm_job``
metadata; never a blind re-send), then sends the rest in one ``POST /email`` or ``/email/batch``.
Outcomes are committed before anything else is sent for those jobs; configuration health (the
failure counter, FAILURE, DEGRADED → OK) is recorded afterwards in its own transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tenantmail.domain.configuration import EmailConfiguration, LastError
from tenantmail.domain.errors import InvalidInput, NotFound
from tenantmail.domain.job import EmailJob, JobError, JobStatus
from tenantmail.domain.notification import FOR_JOB_STATUS, Notification, NotificationType
from tenantmail.domain.retry import RETRIES_EXHAUSTED, RetryPolicy
from tenantmail.domain.send_errors import INACTIVE_RECIPIENT_CODE, SendErrorClass, classify
from tenantmail.domain.suppression import SuppressionEntry, SuppressionOrigin, SuppressionReason
from tenantmail.services.configuration_store import notify_changed, state_of
from tenantmail.services.context import ServiceContext
from tenantmail.services.ports import (
    Attachment,
    ClaimedJob,
    JobClaim,
    OutboundEmail,
    PostmarkError,
    PostmarkServerApi,
    SendOutcome,
    UnitOfWork,
)

#: How long the jobs of a configuration that may not send are parked. Not a polling period: the
#: change that lets the configuration send again makes them due at once
#: (``configuration_store.save_version``); this only bounds how long a missed release could last.
PARK = timedelta(minutes=15)
BATCH_LIMIT = 500  #: Postmark's ``POST /email/batch`` maximum
RECONCILE_PER_PASS = 25  #: metadata searches one pass makes for one configuration (concurrently)
RECLAIMED = JobError(SendErrorClass.AMBIGUOUS.value, "reclaimed", "its worker stopped during the Postmark call")


def retry_policy(ctx: ServiceContext) -> RetryPolicy:
    s = ctx.settings
    return RetryPolicy(s.send_retry_base_seconds, s.send_retry_cap_seconds, timedelta(hours=s.send_give_up_hours))


async def dispatch_jobs(ctx: ServiceContext) -> int:
    """One pass, claim and send (tests, tools); returns how many jobs it claimed (0 = nothing due).
    The worker claims with :func:`claim_jobs` and sends with :func:`dispatch_claimed`, several
    passes at once (``entrypoints/worker.py``)."""
    claim = await claim_jobs(ctx, ctx.settings.dispatch_batch_size)
    await dispatch_claimed(ctx, claim)
    return len(claim.jobs)


class ClaimSize:
    """How many jobs the next claim asks for: adaptive, so a short queue goes out in small claims
    (spread over the passes in flight, each a quick Postmark call) and a long one in claims of up
    to ``most`` (Postmark's batch limit: one call per 500 messages, not one per message).

    A claim that came back full says the queue is longer than it: the next asks for twice as many.
    One that came back less than half full asks for half. Nothing ever waits for a claim to fill.
    """

    def __init__(self, most: int, least: int = 8) -> None:
        self.most = most
        self.least = min(least, most)
        self.current = self.least

    def claimed(self, count: int) -> None:
        if count >= self.current:
            self.current = min(self.most, self.current * 2)
        elif count < self.current // 2:
            self.current = max(self.least, self.current // 2)


async def claim_jobs(ctx: ServiceContext, limit: int, exclude: Collection[str] = ()) -> JobClaim:
    """Claim up to ``limit`` due jobs, none of the ``exclude`` configurations: round-robin across
    configurations (SPEC §16) unless ``TENANTMAIL_DISPATCH_FAIR`` is off (oldest first)."""
    return await ctx.work.claim_jobs(ctx.clock(), limit, fair=ctx.settings.dispatch_fair,
                                     exclude_configurations=sorted(exclude))


async def dispatch_claimed(ctx: ServiceContext, claim: JobClaim) -> None:
    """Send claimed jobs, each configuration's group concurrently, each group committed on its own."""
    groups: dict[tuple[str, str], list[ClaimedJob]] = defaultdict(list)
    for claimed in claim.jobs:
        groups[(claimed.tenant_id, claimed.configuration_e_id)].append(claimed)
    await asyncio.gather(*(
        _dispatch_group(ctx, claim.configuration(tenant, config_eid), members)
        for (tenant, config_eid), members in groups.items()
    ))


@dataclass
class GroupPass:
    """What one pass over one configuration's jobs decided, before it is committed."""

    ctx: ServiceContext
    config: EmailConfiguration
    now: datetime
    changed: list[EmailJob] = field(default_factory=list)
    suppressed: list[SuppressionEntry] = field(default_factory=list)
    accepted: int = 0
    configuration_error: JobError | None = None

    def requeue(self, job: EmailJob, error: JobError, *, delay: timedelta | None = None) -> None:
        if delay is None:
            at = retry_policy(self.ctx).next_attempt(accepted_at=job.created_at or self.now,
                                                     attempt=max(1, job.attempts), now=self.now)
            if at is None:
                return self.fail(job, JobError(error.error_class, RETRIES_EXHAUSTED, error.message))
        else:
            at = self.now + delay
        job.requeue(error, at, self.now)
        self.changed.append(job)

    def fail(self, job: EmailJob, error: JobError) -> None:
        job.fail(error, self.now)
        self.changed.append(job)

    def sent(self, job: EmailJob, message_id: str) -> None:
        job.mark_sent(message_id, self.ctx.clock())  # when Postmark's answer came, not when the pass began
        self.accepted += 1
        self.changed.append(job)


async def _dispatch_group(ctx: ServiceContext, config: EmailConfiguration | None, claimed: list[ClaimedJob]) -> None:
    """One tenant's claimed jobs of one configuration, with the configuration as the claim read it
    (None: gone)."""
    jobs = [each.job for each in claimed]
    for each in claimed:
        if each.reclaimed:  # the dead worker's call may have reached Postmark
            each.job.last_error = RECLAIMED
    first = jobs[0]
    if config is None or not config.dispatches:
        await _park(ctx, first.tenant_id, first.configuration_e_id, jobs)
        return
    run = GroupPass(ctx, config, ctx.clock())
    server = ctx.postmark.server(ctx.cipher.decrypt(config.server_token_ciphertext, aad=config.e_id))
    doubtful = [j for j in jobs if j.needs_reconciliation]
    fresh = [j for j in jobs if not j.needs_reconciliation]
    await _send(run, server, fresh + await _reconcile(run, server, doubtful))
    await _commit(ctx, first.tenant_id, run)


async def _park(ctx: ServiceContext, tenant: str, config_eid: str, jobs: list[EmailJob]) -> None:
    """A configuration that may not send (FAILURE, not verified, gone): its jobs wait, untouched
    but for their due time, which moves ``PARK`` ahead — so a configuration with a large backlog
    is not claimed over and over while it cannot send, ahead of other tenants' due jobs.

    The configuration is read again, locked, in the transaction that parks: a change that let it
    send meanwhile released only the jobs then QUEUED, not these (SENDING in our hands), so they
    are put back due now instead. LOCKED with a sendable operational state still drains (SPEC §3
    lock); force-lock has already CANCELLED the queued jobs, which are never claimed.
    """
    now = ctx.clock()
    async with ctx.uow(tenant) as uow:
        try:
            config: EmailConfiguration | None = await uow.configurations.get(config_eid, for_update=True)
        except NotFound:
            config = None
        due = now if config is not None and config.dispatches else now + PARK
        for job in jobs:
            job.requeue(job.last_error, due, now)
        await uow.jobs.save_outcomes(jobs)
        await uow.commit()
    if due > now:
        reason = config.operational.value.lower() if config else "missing"
        ctx.telemetry.emit("email.send.held", labels={"reason": reason}, jobs=len(jobs))


async def _reconcile(run: GroupPass, server: PostmarkServerApi, jobs: list[EmailJob]) -> list[EmailJob]:
    """Search Postmark for jobs whose last call may have been processed; return those not found.

    At most ``RECONCILE_PER_PASS`` searches run, all at once, so a pass lasts at most about two
    Postmark timeouts (the searches, then the send) — well inside the lease (see Settings), and a
    reclaim by another worker cannot race a call still in flight. The rest wait for the next pass.
    """
    now_searched, later = jobs[:RECONCILE_PER_PASS], jobs[RECONCILE_PER_PASS:]
    for job in later:
        run.requeue(job, job.last_error or RECLAIMED, delay=timedelta(0))
    found = await asyncio.gather(
        *(server.search_outbound({"tm_job": job.e_id}, count=1) for job in now_searched), return_exceptions=True,
    )
    unresolved = []
    for job, result in zip(now_searched, found, strict=True):
        if isinstance(result, BaseException):  # a failed search leaves the question open: ask again later
            run.requeue(job, JobError(SendErrorClass.AMBIGUOUS.value, "search_failed", str(result)))
            continue
        resolution = "found" if result else "not_found"
        run.ctx.telemetry.emit("email.send.ambiguous_resolved", labels={"resolution": resolution}, job_id=job.e_id)
        if result:
            run.sent(job, result[0].message_id)
        else:
            unresolved.append(job)
    return unresolved


FROM_NOT_ALLOWED = "from_not_allowed"


def outbound(config: EmailConfiguration, job: EmailJob) -> OutboundEmail:
    """The message for ``job``: the configuration's From with the local part the job chose (checked
    against the allow-list as it is now: InvalidInput when an operator has taken it off since),
    the job's Reply-To else the configuration's."""
    return OutboundEmail(
        from_address=config.from_header_for(job.from_local_part), to=job.recipient, subject=job.subject,
        html_body=job.html_body, text_body=job.text_body,
        reply_to=job.reply_to_email or config.signature.reply_to_email,
        attachments=tuple(Attachment(a.filename, a.content_type, a.content_base64) for a in job.attachments),
        metadata={**job.metadata, "tm_job": job.e_id, "tm_config": config.e_id}, tag=job.tag,
    )


def _with_allowed_from(run: GroupPass, jobs: list[EmailJob]) -> list[EmailJob]:
    """The jobs whose From is still allowed; the others fail at once (never a From outside the
    allow-list, even for a job queued before the local part was taken off it)."""
    allowed = []
    for job in jobs:
        try:
            run.config.check_from_local_part(job.from_local_part)
        except InvalidInput as exc:
            run.ctx.telemetry.emit("email.send.failure", labels={"class": "permanent", "code": FROM_NOT_ALLOWED},
                                   level="warning", job_id=job.e_id, configuration_id=run.config.e_id)
            run.fail(job, JobError(SendErrorClass.PERMANENT.value, FROM_NOT_ALLOWED, exc.message))
        else:
            allowed.append(job)
    return allowed


async def _send(run: GroupPass, server: PostmarkServerApi, jobs: list[EmailJob]) -> None:
    jobs = _with_allowed_from(run, jobs)
    for start in range(0, len(jobs), BATCH_LIMIT):
        chunk = jobs[start:start + BATCH_LIMIT]
        emails = [outbound(run.config, job) for job in chunk]
        mode = "single" if len(chunk) == 1 else "batch"
        run.ctx.telemetry.emit("email.send.attempt", labels={"mode": mode}, level="debug", messages=len(chunk))
        began = time.perf_counter()
        for job in chunk:
            job.attempts += 1
        try:
            outcomes = [await server.send_email(emails[0])] if len(chunk) == 1 else await server.send_batch(emails)
        except Exception as exc:  # a refusal of the whole call applies to each of its jobs
            error_class, code, message = _failure_of(exc)
            for job in chunk:
                _apply_failure(run, job, JobError(error_class.value, code, message), error_class)
        else:
            for job, outcome in zip(chunk, outcomes, strict=True):
                _apply_outcome(run, job, outcome)
        finally:
            run.ctx.telemetry.observe("email.send.dispatch_latency", time.perf_counter() - began, labels={"mode": mode})


def _failure_of(exc: Exception) -> tuple[SendErrorClass, str, str]:
    """The class, code and message of a failed call; anything that is not Postmark's answer is
    treated as ambiguous, since the request may have left before it failed."""
    if not isinstance(exc, PostmarkError):
        return SendErrorClass.AMBIGUOUS, type(exc).__name__, str(exc)
    return exc.error_class, str(exc.error_code or exc.http_status or type(exc).__name__), exc.message


def _apply_outcome(run: GroupPass, job: EmailJob, outcome: SendOutcome) -> None:
    if outcome.accepted and outcome.message_id:
        run.sent(job, outcome.message_id)
        return
    error_class = classify(422, outcome.error_code)
    _apply_failure(run, job, JobError(error_class.value, str(outcome.error_code), outcome.message), error_class)


def _apply_failure(run: GroupPass, job: EmailJob, error: JobError, error_class: SendErrorClass) -> None:
    run.ctx.telemetry.emit(
        "email.send.failure", labels={"class": error_class.value, "code": error.code},
        level="warning", job_id=job.e_id, configuration_id=run.config.e_id, message=error.message,
    )
    if error_class in (SendErrorClass.TRANSIENT, SendErrorClass.AMBIGUOUS):
        run.ctx.telemetry.emit("email.send.retry_scheduled", labels={"class": error_class.value}, job_id=job.e_id)
        run.requeue(job, error)
    elif error_class is SendErrorClass.CONFIGURATION:
        run.configuration_error = error
        run.requeue(job, error)
    else:
        if error.code == str(INACTIVE_RECIPIENT_CODE):
            run.suppressed.append(SuppressionEntry.new(
                tenant_id=job.tenant_id, recipient=job.recipient, reason=SuppressionReason.INACTIVE_RECIPIENT,
                origin=SuppressionOrigin.SEND, now=run.now,
            ))
        run.fail(job, error)


async def _commit(ctx: ServiceContext, tenant: str, run: GroupPass) -> None:
    """Job outcomes, suppressions and the configuration's health in one transaction, so no job
    can be claimed again between its configuration error and the FAILURE that error caused."""
    error = run.configuration_error
    health = LastError("send", error.code, error.message) if error else None
    async with ctx.uow(tenant) as uow:
        # the jobs still SENDING take their outcome (save_outcomes); a webhook may have moved one
        # already, and then its notification was written by the webhook instead
        taking = await uow.jobs.still_sending([job.e_id for job in run.changed])
        await uow.jobs.save_outcomes(run.changed)
        notifications = [Notification.of(FOR_JOB_STATUS[job.status], job.e_id, run.now)
                         for job in run.changed if job.e_id in taking and job.status in FOR_JOB_STATUS]
        for entry in run.suppressed:
            if await uow.suppressions.add_if_absent(entry) is entry:
                notifications.append(Notification.of(NotificationType.SUPPRESSION_ADDED, entry.id, run.now))
        await uow.notifications.record(*notifications)
        entered_failure = False
        if error is not None or run.accepted:
            entered_failure = await record_configuration_health(ctx, uow, run.config.e_id, health)
        await uow.commit()
    for job in run.changed:
        if job.status is JobStatus.SENT:
            ctx.telemetry.emit("email.send.outcome", labels={"class": "accepted"}, level="debug", job_id=job.e_id)
        elif job.status is JobStatus.FAILED:
            ctx.telemetry.emit("email.send.outcome", labels={"class": "failed"}, job_id=job.e_id,
                               code=job.last_error.code if job.last_error else "")
    if entered_failure and health is not None:
        ctx.telemetry.emit(
            "email.send.failure_entered", labels={"code": health.code}, level="error", sentry=True,
            fingerprint=["email.send.failure_entered", run.config.e_id], configuration_id=run.config.e_id,
            tenant_id=tenant, message=health.message,
        )


async def record_configuration_health(
    ctx: ServiceContext, uow: UnitOfWork, config_eid: str, error: LastError | None,
) -> bool:
    """Count a configuration-class failure (``error``) or a success (``None``) on the configuration;
    True when this failure put it into FAILURE — which parks its queued jobs (``PARK``) in the
    same transaction, the ones this pass put back included.

    The row is read FOR UPDATE so a lifecycle signal changing it at the same moment waits for us
    instead of racing the version guard. A success on a healthy configuration writes nothing.
    """
    now = ctx.clock()
    config = await uow.configurations.get(config_eid, for_update=True)
    before = state_of(config)
    if error is None:
        if config.record_send_success(now):
            await uow.configurations.save(config, author="dispatch", cause="send_success")
            if before != state_of(config):
                await notify_changed(uow, config, now)
        return False
    entered_failure = config.record_send_failure(ctx.settings.failure_threshold, error, now)
    await uow.configurations.save(config, author="dispatch", cause="send_failure")
    if before != state_of(config):
        await notify_changed(uow, config, now)
    if entered_failure:
        await uow.jobs.park_queued(config_eid, now + PARK)
    return entered_failure
