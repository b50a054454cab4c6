"""Accepting a send: ``POST /job`` (SPEC §5). Gates in order, then the job into the outbox.

Gates: idempotency (replay / 422 / 409 / 412) → configuration exists (404) → ``fromLocalPart`` on
the configuration's allow-list (400) → sendable (409) → recipient not suppressed (403) → the
tenant's quota (429; the token is taken in the transaction that queues the job, and given back
when the job is not queued, so only a queued send uses one). The job and its idempotency record
are committed together, so a committed key always has its job and an answered job always has its key.

Most sends take one round trip: the configuration as this process last saw it decides the gates,
and the store commits only if nothing they depend on has changed since (see
:class:`~tenantmail.services.ports.SendStore`). Otherwise, or for a configuration not seen yet,
one read of every gate's facts and the gates answer in SPEC order. Two requests racing with one
new key: the store lets one record win; the other reads again and replays the winner. A send the
quota refuses before its gates were read is not refused yet: the gates are read and answer first
(a replay stays a replay, a suppressed recipient a 403), so the quota stays the last gate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tenantmail.domain.configuration import EmailConfiguration
from tenantmail.domain.errors import IdempotencyInFlight, NotFound, RecipientSuppressed
from tenantmail.domain.idempotency import IdempotencyRecord
from tenantmail.domain.job import EmailJob
from tenantmail.domain.quota import EffectiveLimits, QuotaExceeded, QuotaTake
from tenantmail.domain.send_request import SendRequest
from tenantmail.services.context import ServiceContext
from tenantmail.services.ports import SendFacts
from tenantmail.settings import Settings

NAMESPACE = "job"
ACCEPTED = 202
GATE_READS = 3  #: reads before a send that keeps meeting concurrent changes is answered 409 (retry)

#: Renders the answer stored with the key and replayed for it: ``job → JSON body``.
Render = Callable[[EmailJob], Any]


@dataclass(frozen=True)
class Submitted:
    status: int
    body: Any
    replayed: bool


async def submit_send(
    ctx: ServiceContext, tenant_id: str, *, idempotency_key: str, request: SendRequest,
    author: str, render: Render,
) -> Submitted:
    """Queue ``request`` once per key; raise the gate's DomainError when one refuses it."""
    job, record = prepare(ctx, tenant_id, idempotency_key=idempotency_key, request=request, author=author,
                          render=render)
    try:
        try:
            queued = await _queue_as_remembered(ctx, job, record)
        except QuotaExceeded as refusal:
            return await gated_refusal(ctx, job, record, refusal)
        if not queued:
            replayed = await queue_after_reading_gates(ctx, job, record)
            if replayed is not None:
                return replayed
    except QuotaExceeded:
        throttled(ctx, tenant_id)
        raise
    return accepted(ctx, job, record)


def quota_take(ctx: ServiceContext) -> QuotaTake | None:
    """What a send takes from its tenant's quota (None: quotas are off)."""
    settings = ctx.settings
    if not settings.quotas_enabled:
        return None
    return QuotaTake(default_limits(settings), ctx.clock())


def default_limits(settings: Settings) -> EffectiveLimits:
    return EffectiveLimits(settings.quota_sends_per_second, settings.quota_burst, settings.quota_sends_per_day)


def throttled(ctx: ServiceContext, tenant_id: str, count: int = 1) -> None:
    """``email_send_throttled_total{tenant_id}``: sends refused by the tenant's quota."""
    for _ in range(count):
        ctx.telemetry.emit("email.send.throttled", labels={"tenant_id": tenant_id}, level="debug")


def prepare(
    ctx: ServiceContext, tenant_id: str, *, idempotency_key: str, request: SendRequest, author: str, render: Render,
) -> tuple[EmailJob, IdempotencyRecord]:
    """The job ``request`` would queue and the idempotency record that answers its key."""
    now = ctx.clock()
    job = EmailJob.queue(
        tenant_id=tenant_id, configuration_e_id=request.configuration_e_id, recipient=request.recipient,
        subject=request.subject, idempotency_key=idempotency_key, now=now, author=author,
        reply_to_email=request.reply_to_email, html_body=request.html_body, text_body=request.text_body,
        attachments=request.attachments, from_local_part=request.from_local_part,
        tag=request.tag, metadata=request.metadata, html_sanitized=request.html_sanitized,
    )
    record = IdempotencyRecord(
        key=idempotency_key, request_hash=request.fingerprint(), resource_e_id=job.e_id,
        response_status=ACCEPTED, response_body=render(job), created_at=now,
        expires_at=now + timedelta(hours=ctx.settings.idempotency_ttl_hours),
    )
    return job, record


def accepted(ctx: ServiceContext, job: EmailJob, record: IdempotencyRecord) -> Submitted:
    ctx.telemetry.emit("email.send.accepted", level="debug", job_id=job.e_id, configuration_id=job.configuration_e_id)
    return Submitted(ACCEPTED, record.response_body, replayed=False)


def gate(facts: SendFacts, job: EmailJob, record: IdempotencyRecord) -> Submitted | None:
    """Every gate in SPEC order on the facts read for ``job``: the replay of the key's answer, or
    None when the job may be queued; raises the refusing gate's DomainError."""
    if facts.record is not None and not facts.record.expired(record.created_at):
        status, body = facts.record.replay(record.request_hash, facts.record_job_status, default_status=ACCEPTED)
        return Submitted(status, body, replayed=True)
    if facts.configuration is None:
        raise NotFound("configuration", job.configuration_e_id)
    facts.configuration.check_from_local_part(job.from_local_part)  # InvalidInput → 400
    facts.configuration.ensure_sendable()  # NotSendable → 409 with the reason
    if facts.suppressed_for is not None:
        raise RecipientSuppressed(job.recipient, facts.suppressed_for)
    return None


async def _queue_as_remembered(ctx: ServiceContext, job: EmailJob, record: IdempotencyRecord) -> bool:
    """The common case in one statement: a new key for a configuration this process has seen
    sendable. The store commits only if that configuration is unchanged since, the recipient is
    not suppressed and the key is free, which is every gate passing; anything else writes nothing."""
    known = ctx.configuration_memo.get(job.tenant_id, job.configuration_e_id)
    if known is None or not known.is_sendable or not remembered_allows(known, job.from_local_part):
        return False
    return await ctx.send_store.queue_job(job, NAMESPACE, record, configuration_version=known.version,
                                          quota=quota_take(ctx))


async def gated_refusal(ctx: ServiceContext, job: EmailJob, record: IdempotencyRecord,
                        refusal: QuotaExceeded) -> Submitted:
    """For a send the quota refused before its gates were read: the gates' answer (a replay, or
    the refusing gate's error) — and the quota's refusal only when every gate lets it through."""
    replayed = gate(await read_gates(ctx, job, record), job, record)
    if replayed is not None:
        return replayed
    raise refusal


def remembered_allows(config: EmailConfiguration, local_part: str | None) -> bool:
    """The From local part is one the remembered configuration allows (else: the full gates)."""
    return local_part is None or local_part in config.allowed_local_parts


async def queue_after_reading_gates(
    ctx: ServiceContext, job: EmailJob, record: IdempotencyRecord,
) -> Submitted | None:
    """Every gate in SPEC order from a fresh read; None once the job is queued, else the replay.

    Queueing can still find the world changed since the read (a racing request took the key, the
    configuration changed, the recipient got suppressed); then read again, a bounded number of
    times: each retry needs another concurrent commit, so they do not go on for long.
    """
    for _ in range(GATE_READS):
        facts = await read_gates(ctx, job, record)
        replayed = gate(facts, job, record)
        if replayed is not None:
            return replayed
        assert facts.configuration is not None  # the gate refused otherwise
        if await ctx.send_store.queue_job(job, NAMESPACE, record, configuration_version=facts.configuration.version,
                                          quota=quota_take(ctx)):
            return None
    raise IdempotencyInFlight()


async def read_gates(ctx: ServiceContext, job: EmailJob, record: IdempotencyRecord) -> SendFacts:
    """The gates' facts for ``job`` (and what this process remembers of its configuration)."""
    facts = await ctx.send_store.read_gates(
        job.tenant_id, NAMESPACE, record.key, job.configuration_e_id, job.recipient)
    ctx.configuration_memo.remember(job.tenant_id, job.configuration_e_id, facts.configuration)
    return facts
