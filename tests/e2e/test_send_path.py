"""The send path end to end: POST /job → worker → the Postmark sandbox, on both databases."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.bootstrap import Container
from tenantmail.services import dispatch_jobs
from tenantmail.settings import Settings
from tests.helpers import eventually, send_body, sendable_configuration


@pytest.fixture
def settings(settings: Settings, engine: AsyncEngine) -> Settings:
    """An emptied database, fast retries and a short Postmark timeout (faults resolve in seconds).

    boto3 needs some credentials even for the local Route 53 (moto accepts any).
    """
    return settings.model_copy(update={
        "send_retry_base_seconds": 0.05, "send_retry_cap_seconds": 0.2, "postmark_timeout_seconds": 1.0,
    })


def control(app: Container) -> httpx.AsyncClient:
    assert app.sandbox is not None
    return httpx.AsyncClient(base_url=f"{app.sandbox.base_url}/_sandbox",
                             headers={"X-Postmark-Account-Token": app.sandbox.account_token})


async def messages_of(app: Container, server_id: int) -> list[dict[str, Any]]:
    async with control(app) as sandbox:
        response = await sandbox.get(f"/servers/{server_id}/messages")
        response.raise_for_status()
        return response.json()


async def inject(app: Container, *faults: dict[str, Any]) -> None:
    async with control(app) as sandbox:
        (await sandbox.post("/faults", json=list(faults))).raise_for_status()


async def job_status(api: httpx.AsyncClient, e_id: str, wanted: str) -> dict[str, Any] | None:
    job = (await api.get(f"/job/{e_id}")).json()
    return job if job["payload"]["status"] == wanted else None


async def submit(api: httpx.AsyncClient, body: dict[str, Any], key: str) -> httpx.Response:
    return await api.post("/job", json=body, headers={"Idempotency-Key": key})


async def test_a_queued_send_reaches_postmark_from_the_configuration_address(
    api: httpx.AsyncClient, app_container: Container, worker: None,
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "acme", reply_to="help@acme.example")
    accepted = await submit(api, send_body(config.e_id, recipient="  Customer@Example.COM "), "order-1")
    assert accepted.status_code == 202
    job = accepted.json()
    assert job["payload"]["status"] == "QUEUED" and job["payload"]["recipient"] == "customer@example.com"
    assert job["metadata"] == {"tenantId": "tenant-a", "author": "tests"}

    sent = await eventually(lambda: job_status(api, job["eId"], "SENT"))
    [message] = await messages_of(app_container, config.server_id or 0)
    assert sent["payload"]["messageId"] == message["MessageID"]
    assert message["From"] == config.from_header
    assert message["Metadata"] == {"tm_job": job["eId"], "tm_config": config.e_id}
    assert message["ReplyTo"] == "help@acme.example"
    assert sent["payload"]["attempts"] == 1


async def test_tag_and_metadata_reach_postmark_beside_ours(
    api: httpx.AsyncClient, app_container: Container, worker: None,
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "tagged")
    job = (await submit(api, send_body(config.e_id, tag="welcome", metadata={"orderId": "A-1"}), "tag-1")).json()
    await eventually(lambda: job_status(api, job["eId"], "SENT"))
    [message] = await messages_of(app_container, config.server_id or 0)
    assert message["Tag"] == "welcome"
    assert message["Metadata"] == {"orderId": "A-1", "tm_job": job["eId"], "tm_config": config.e_id}


async def test_429_and_503_bursts_end_in_exactly_one_message(
    api: httpx.AsyncClient, app_container: Container, worker: None,
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "bursty")
    await inject(app_container, {"kind": "status", "status": 429, "path": "/email*", "count": 2},
                 {"kind": "status", "status": 503, "path": "/email*", "count": 2})
    job = (await submit(api, send_body(config.e_id), "burst-1")).json()

    sent = await eventually(lambda: job_status(api, job["eId"], "SENT"))
    assert sent["payload"]["attempts"] == 5
    assert len(await messages_of(app_container, config.server_id or 0)) == 1


async def test_a_dropped_response_is_resolved_by_metadata_search_not_a_second_send(
    api: httpx.AsyncClient, app_container: Container, worker: None,
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "dropped")
    await inject(app_container, {"kind": "drop", "path": "/email", "count": 1, "hold_seconds": 5})
    job = (await submit(api, send_body(config.e_id), "drop-1")).json()

    sent = await eventually(lambda: job_status(api, job["eId"], "SENT"))
    [message] = await messages_of(app_container, config.server_id or 0)
    assert sent["payload"]["messageId"] == message["MessageID"]


async def test_an_inactive_recipient_fails_the_job_and_blocks_the_next_send_locally(
    api: httpx.AsyncClient, app_container: Container, worker: None,
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "inactive")
    await inject(app_container, {"kind": "error_code", "error_code": 406, "path": "/email", "count": 1})
    job = (await submit(api, send_body(config.e_id, recipient="gone@example.com"), "inactive-1")).json()

    failed = await eventually(lambda: job_status(api, job["eId"], "FAILED"))
    assert failed["payload"]["lastError"]["class"] == "recipient"
    assert failed["payload"]["lastError"]["code"] == "406"
    refused = await submit(api, send_body(config.e_id, recipient="Gone@example.com"), "inactive-2")
    assert refused.status_code == 403
    assert refused.json()["error"] == "RecipientSuppressed"
    assert await messages_of(app_container, config.server_id or 0) == []


async def test_configuration_errors_hold_the_job_and_enter_failure_at_the_threshold(
    api: httpx.AsyncClient, app_container: Container, worker: None,
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "broken")
    threshold = app_container.settings.failure_threshold
    await inject(app_container, {"kind": "error_code", "error_code": 401, "path": "/email", "count": threshold})
    job = (await submit(api, send_body(config.e_id), "broken-1")).json()

    async def in_failure_and_parked() -> bool:
        """FAILURE, and the job parked in the same transaction: not due for minutes, so no pass
        claims it again until the configuration can send (or PARK runs out)."""
        async with app_container.ctx.uow("tenant-a") as uow:
            failed = (await uow.configurations.get(config.e_id)).operational.value == "FAILURE"
            due = (await uow.jobs.get(job["eId"])).next_attempt_at
        return failed and due is not None and due - app_container.ctx.clock() > timedelta(minutes=10)

    await eventually(in_failure_and_parked)
    held = (await api.get(f"/job/{job['eId']}")).json()["payload"]
    assert held["status"] == "QUEUED" and held["lastError"]["class"] == "configuration"
    assert held["attempts"] == threshold
    refused = await submit(api, send_body(config.e_id), "broken-2")
    assert refused.status_code == 409 and "FAILURE" in refused.json()["message"]
    assert await messages_of(app_container, config.server_id or 0) == []

    # …unless the configuration recovers: re-verify (the health check passes, the injected 401s
    # are used up) → DEGRADED makes it due at once
    recovered = await api.post(f"/configuration/{config.e_id}/re-verify")
    assert recovered.status_code == 200, recovered.text
    await eventually(lambda: job_status(api, job["eId"], "SENT"))
    assert len(await messages_of(app_container, config.server_id or 0)) == 1


async def test_twenty_parallel_requests_with_one_key_make_one_job_and_one_email(
    api: httpx.AsyncClient, app_container: Container, worker: None,
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "racy")
    answers = await asyncio.gather(*(submit(api, send_body(config.e_id), "same-key") for _ in range(20)))

    assert {a.status_code for a in answers} <= {202, 409}
    bodies = {a.json()["eId"] for a in answers if a.status_code == 202}
    assert len(bodies) == 1
    assert sum(a.headers.get("Idempotent-Replayed") != "true" for a in answers if a.status_code == 202) == 1
    [e_id] = bodies
    await eventually(lambda: job_status(api, e_id, "SENT"))
    listed = (await api.get("/job", params={"configurationEId": config.e_id})).json()
    assert listed["total"] == 1
    assert len(await messages_of(app_container, config.server_id or 0)) == 1


async def test_jobs_claimed_while_their_configuration_recovered_are_not_parked(
    api: httpx.AsyncClient, app_container: Container,
) -> None:
    """The pass read the configuration as unable to send, and it recovered before the pass parked
    its jobs: the recovery released only the jobs then QUEUED, so parking re-reads the
    configuration (locked) and puts these back due now instead of PARK later."""
    config = await sendable_configuration(app_container, "tenant-a", "recovered")
    job = (await submit(api, send_body(config.e_id), "recovered-1")).json()
    [claimed] = (await app_container.ctx.work.claim_jobs(app_container.ctx.clock(), 10)).jobs
    assert claimed.e_id == job["eId"]
    async with app_container.ctx.uow("tenant-a") as uow:
        [sending] = await uow.jobs.get_many([job["eId"]])

    await dispatch_jobs._park(app_container.ctx, "tenant-a", config.e_id, [sending])  # config is OK by now

    async with app_container.ctx.uow("tenant-a") as uow:
        after = await uow.jobs.get(job["eId"])
    assert after.status.value == "QUEUED"
    assert after.next_attempt_at is not None and after.next_attempt_at <= app_container.ctx.clock()
