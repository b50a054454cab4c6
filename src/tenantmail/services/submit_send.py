"""Accepting a send: ``POST /job`` (SPEC §5). Gates in order, then the job into the outbox.

Gates: idempotency (replay / 422 / 409 / 412) → configuration exists (404) → sendable (409) →
recipient not suppressed (403). The job and its idempotency record are written in one
transaction, so a committed key always has its job and an answered job always has its key.
The record is inserted first: the key is the race to win, and losing it costs nothing queued.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tenantmail.domain.errors import IdempotencyMismatch, RecipientSuppressed, ReplayOfInconsistent
from tenantmail.domain.job import EmailJob, JobStatus
from tenantmail.domain.send_request import SendRequest
from tenantmail.services.context import ServiceContext
from tenantmail.services.ports import UnitOfWork

NAMESPACE = "job"
ACCEPTED = 202

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
    now = ctx.clock()
    fingerprint = request.fingerprint()
    async with ctx.uow(tenant_id) as uow:
        job = _job(tenant_id, idempotency_key, request, author, now)
        body = render(job)
        if not await _claim_key(ctx, uow, idempotency_key, fingerprint, job, body, now):
            return await _replay(uow, idempotency_key, fingerprint)
        await _check_gates(uow, request)
        await uow.jobs.add(job)
        await uow.commit()
    ctx.telemetry.emit("email.send.accepted", level="debug", job_id=job.e_id,
                       configuration_id=request.configuration_e_id)
    return Submitted(ACCEPTED, body, replayed=False)


def _job(tenant_id: str, key: str, request: SendRequest, author: str, now: datetime) -> EmailJob:
    return EmailJob.queue(
        tenant_id=tenant_id, configuration_e_id=request.configuration_e_id, recipient=request.recipient,
        subject=request.subject, idempotency_key=key, now=now, author=author, reply_to_email=request.reply_to_email,
        html_body=request.html_body, text_body=request.text_body, attachments=request.attachments,
    )


async def _claim_key(
    ctx: ServiceContext, uow: UnitOfWork, key: str, fingerprint: str, job: EmailJob, body: Any, now: datetime,
) -> bool:
    """Insert the key's record; False when a live record already answers for the key."""
    expires_at = now + timedelta(hours=ctx.settings.idempotency_ttl_hours)
    for _ in range(2):  # once more after discarding an expired record
        if await uow.idempotency.insert_if_absent(
            NAMESPACE, key, request_hash=fingerprint, resource_e_id=job.e_id,
            response_status=ACCEPTED, response_body=body, now=now, expires_at=expires_at,
        ):
            return True
        existing = await uow.idempotency.get(NAMESPACE, key)
        if existing is not None and not existing.expired(now):
            return False
        await uow.idempotency.discard(NAMESPACE, key)
    return False


async def _replay(uow: UnitOfWork, key: str, fingerprint: str) -> Submitted:
    record = await uow.idempotency.get(NAMESPACE, key)
    assert record is not None  # _claim_key returned False only after seeing it
    if record.request_hash != fingerprint:
        raise IdempotencyMismatch()
    job = await uow.jobs.find(record.resource_e_id) if record.resource_e_id else None
    if job is not None and job.status is JobStatus.INCONSISTENT:
        raise ReplayOfInconsistent(job.e_id)
    return Submitted(record.response_status or ACCEPTED, record.response_body, replayed=True)


async def _check_gates(uow: UnitOfWork, request: SendRequest) -> None:
    """Configuration exists (404), is sendable (409), recipient not suppressed (403): one read."""
    config, suppressed_for = await uow.configurations.get_for_send(request.configuration_e_id, request.recipient)
    config.ensure_sendable()  # NotSendable → 409 with the reason
    if suppressed_for is not None:
        raise RecipientSuppressed(request.recipient, suppressed_for)
