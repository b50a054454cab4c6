"""A job that Postmark accepted always records Postmark's MessageID (SPEC §14), on both databases,
whichever of webhook and dispatch answer / reconciliation arrives first.

Postmark's answer is lost with the sandbox's ``drop`` fault (the message *is* stored, the client
times out: an ambiguous outcome). Dispatch passes are driven by hand (no background worker), so
each order is forced, not hoped for.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.bootstrap import Container
from tenantmail.domain.job import EmailJob, JobStatus
from tenantmail.services.dispatch_jobs import dispatch_jobs
from tenantmail.settings import Settings
from tests import webhook_support as pm
from tests.e2e.test_send_path import inject, messages_of, submit
from tests.helpers import eventually, send_body, sendable_configuration

WEBHOOK = "/job/postmark-events"


@pytest.fixture
def settings(settings: Settings, engine: AsyncEngine) -> Settings:
    """Emptied tables; retries due at once; Postmark calls time out after 3 s (the drop holds 30 s)."""
    return settings.model_copy(update={
        "send_retry_base_seconds": 0.01, "send_retry_cap_seconds": 0.01, "postmark_timeout_seconds": 3.0,
    })


async def job_payload(api: httpx.AsyncClient, e_id: str) -> dict[str, Any]:
    return (await api.get(f"/job/{e_id}")).json()["payload"]


async def deliver(api: httpx.AsyncClient, app: Container, config_eid: str, job_eid: str, message_id: str,
                  recipient: str) -> None:
    event = pm.delivery(message_id, recipient, job=job_eid)
    event["ServerID"] = (await _server_id(app, config_eid))
    password = app.ctx.webhook_secrets.current(config_eid)
    response = await api.post(WEBHOOK, json=event, auth=(config_eid, password))
    assert response.status_code == 200, response.text


async def _server_id(app: Container, config_eid: str) -> int:
    async with app.ctx.uow("tenant-a") as uow:
        return (await uow.configurations.get(config_eid)).server_id or 0


async def test_webhook_first_the_delivered_job_still_gets_its_message_id_and_attempt(
    api: httpx.AsyncClient, app_container: Container,
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "race-hook-first")
    await inject(app_container, {"kind": "drop", "path": "/email", "count": 1, "hold_seconds": 30})
    job = (await submit(api, send_body(config.e_id), "race-1")).json()
    dispatching = asyncio.create_task(dispatch_jobs(app_container.ctx))  # its answer will be lost

    [message] = await eventually(lambda: messages_of(app_container, config.server_id or 0))
    await deliver(api, app_container, config.e_id, job["eId"], message["MessageID"], "customer@example.com")
    assert await dispatching == 1  # the call timed out: ambiguous, saved while the job is DELIVERED

    payload = await job_payload(api, job["eId"])
    assert (payload["status"], payload["messageId"], payload["attempts"]) == ("DELIVERED", message["MessageID"], 1)
    assert await dispatch_jobs(app_container.ctx) == 0  # nothing left to send or reconcile
    assert len(await messages_of(app_container, config.server_id or 0)) == 1


async def test_reconciliation_first_then_the_webhook(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "race-search-first")
    await inject(app_container, {"kind": "drop", "path": "/email", "count": 1, "hold_seconds": 30})
    job = (await submit(api, send_body(config.e_id), "race-2")).json()
    assert await dispatch_jobs(app_container.ctx) == 1  # the answer is lost: QUEUED, ambiguous
    assert (await job_payload(api, job["eId"]))["messageId"] is None

    async def reconciled() -> dict[str, Any] | None:
        await dispatch_jobs(app_container.ctx)  # searches by tm_job before any resend
        payload = await job_payload(api, job["eId"])
        return payload if payload["status"] == "SENT" else None

    sent = await eventually(reconciled)
    [message] = await messages_of(app_container, config.server_id or 0)
    assert (sent["messageId"], sent["attempts"]) == (message["MessageID"], 1)
    await deliver(api, app_container, config.e_id, job["eId"], message["MessageID"], "customer@example.com")
    payload = await job_payload(api, job["eId"])
    assert (payload["status"], payload["messageId"], payload["attempts"]) == ("DELIVERED", message["MessageID"], 1)


async def test_reconciliation_records_the_message_id_when_a_webhook_moved_the_job_meanwhile(
    app_container: Container,
) -> None:
    """The search found the message, but a webhook without a usable MessageID moved the job on
    before the pass committed: the pass's save still records the MessageID and the attempt."""
    config = await sendable_configuration(app_container, "tenant-a", "race-save")
    ctx = app_container.ctx
    job = EmailJob.queue(tenant_id="tenant-a", configuration_e_id=config.e_id, recipient="ann@example.com",
                         subject="Hi", idempotency_key="race-3", now=ctx.clock(), text_body="x")
    job.status = JobStatus.DELIVERED  # what the webhook left: no MessageID, no attempt counted
    async with ctx.uow("tenant-a") as uow:
        await uow.jobs.add(job)
        await uow.commit()
    passed = dataclasses.replace(job, status=JobStatus.SENDING, attempts=1)  # the pass's copy
    passed.mark_sent("pm-found", ctx.clock())
    async with ctx.uow("tenant-a") as uow:
        await uow.jobs.save_outcomes([passed])
        await uow.commit()
    async with ctx.uow("tenant-a") as uow:
        stored = await uow.jobs.get(job.e_id)
    assert (stored.status, stored.message_id, stored.attempts) == (JobStatus.DELIVERED, "pm-found", 1)
