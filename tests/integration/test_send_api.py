"""POST /job gates and GET /job reads through the API, on both databases (no worker running)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import httpx
import psycopg
import pytest

from tenantmail.bootstrap import Container
from tenantmail.adapters.db.intake.postgres_lane import libpq_url
from tenantmail.domain.job import JobStatus
from tenantmail.domain.suppression import SuppressionEntry, SuppressionOrigin, SuppressionReason
from tenantmail.services.submit_send import NAMESPACE
from tests.helpers import send_body, sendable_configuration

pytestmark = pytest.mark.usefixtures("engine")  # each test starts on empty tables


async def post(api: httpx.AsyncClient, body: dict, key: str | None = "k-1") -> httpx.Response:
    return await api.post("/job", json=body, headers={"Idempotency-Key": key} if key is not None else {})


async def test_the_same_key_and_body_replays_the_first_answer(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "replay")
    first = await post(api, send_body(config.e_id))
    again = await post(api, send_body(config.e_id, recipient=" CUSTOMER@example.com"))
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers


async def test_the_same_key_with_another_body_is_422(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "mismatch")
    assert (await post(api, send_body(config.e_id))).status_code == 202
    other = await post(api, send_body(config.e_id, subject="Something else"))
    assert other.status_code == 422 and other.json()["error"] == "IdempotencyKeyReused"


async def test_replaying_a_key_whose_job_is_inconsistent_is_412(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "inconsistent")
    e_id = (await post(api, send_body(config.e_id))).json()["eId"]
    async with app_container.ctx.uow("tenant-a") as uow:
        job = await uow.jobs.get(e_id)
        job.move(JobStatus.INCONSISTENT, app_container.ctx.clock())
        await uow.jobs.save(job)
        await uow.commit()
    assert (await post(api, send_body(config.e_id))).status_code == 412


async def test_an_expired_key_queues_a_new_job(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "expiry")
    first = (await post(api, send_body(config.e_id))).json()["eId"]
    ttl = timedelta(hours=app_container.settings.idempotency_ttl_hours)
    later = app_container.ctx.clock() + ttl + timedelta(seconds=1)
    object.__setattr__(app_container.ctx, "clock", lambda: later)
    second = await post(api, send_body(config.e_id, subject="A new send"))
    assert second.status_code == 202 and second.json()["eId"] != first


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_key_held_by_an_uncommitted_request_is_409(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "inflight")
    url = libpq_url(app_container.settings.effective_database_url)
    async with await psycopg.AsyncConnection.connect(url) as first:  # the first request, still running
        await first.execute(  # its record written, its transaction still open
            "INSERT INTO email_idempotency_records (tenant_id, namespace, key, request_hash, state,"
            " created_at, expires_at) VALUES ('tenant-a', %s, 'k-1', 'x', 'completed', now(), now() + interval '1 hour')",
            (NAMESPACE,))
        racing = await post(api, send_body(config.e_id))
        await first.rollback()
    assert racing.status_code == 409 and racing.json()["error"] == "IdempotencyInFlight"


async def test_gates_answer_in_spec_order(
    api: httpx.AsyncClient, app_container: Container, client_for: Callable[[str], httpx.AsyncClient],
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "gates")
    assert (await post(api, send_body("no-such-config"), key="g-1")).status_code == 404
    async with client_for("tenant-b") as other:
        assert (await post(other, send_body(config.e_id), key="g-2")).status_code == 404
    async with app_container.ctx.uow("tenant-a") as uow:
        await uow.suppressions.add_if_absent(SuppressionEntry.new(
            tenant_id="tenant-a", recipient="blocked@example.com", reason=SuppressionReason.HARD_BOUNCE,
            origin=SuppressionOrigin.WEBHOOK, now=app_container.ctx.clock(),
        ))
        await uow.commit()
    blocked = await post(api, send_body(config.e_id, recipient="Blocked@example.com"), key="g-3")
    assert blocked.status_code == 403 and blocked.json()["details"]["reason"] == "HardBounce"


@pytest.mark.parametrize(("body", "key", "status"), [
    ({"recipient": "a@example.com, b@example.com"}, "v-1", 400),
    ({"subject": "two\nlines"}, "v-2", 400),
    ({"textBody": None}, "v-3", 400),
    ({"attachments": [{"filename": "x.exe", "contentType": "application/x", "contentBase64": "AAAA"}]}, "v-4", 400),
    ({"unknownField": 1}, "v-5", 400),
    ({}, None, 400),
    ({}, "k" * 256, 400),
    ({"htmlBody": "x" * (10 * 1024 * 1024)}, "v-6", 413),
])
async def test_invalid_sends_are_refused_and_queue_nothing(
    api: httpx.AsyncClient, body: dict, key: str | None, status: int,
) -> None:
    answer = await post(api, {**send_body("cfg"), **body}, key=key)
    assert answer.status_code == status
    assert (await api.get("/job")).json()["total"] == 0


async def test_jobs_are_read_and_listed_with_filters(
    api: httpx.AsyncClient, app_container: Container, client_for: Callable[[str], httpx.AsyncClient],
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "listing")
    ids = [(await post(api, send_body(config.e_id, recipient=f"r{i}@example.com"), key=f"l-{i}")).json()["eId"]
           for i in range(3)]
    one = (await api.get(f"/job/{ids[0]}")).json()
    assert one["payload"]["status"] == "QUEUED" and one["payload"]["lastError"] is None
    assert (await api.get("/job", params={"recipient": "R1@example.com"})).json()["items"][0]["eId"] == ids[1]
    page = (await api.get("/job", params={"status": "QUEUED", "limit": 2})).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    assert (await api.get("/job", params={"status": "SENT"})).json()["total"] == 0
    async with client_for("tenant-b") as other:
        assert (await other.get(f"/job/{ids[0]}")).status_code == 404
        assert (await other.get("/job")).json()["total"] == 0


async def test_parallel_requests_with_one_key_queue_one_job(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "parallel")
    answers = await asyncio.gather(*(post(api, send_body(config.e_id), key="p-1") for _ in range(20)))
    assert len({a.json()["eId"] for a in answers if a.status_code == 202}) == 1
    assert (await api.get("/job")).json()["total"] == 1


async def test_a_send_sees_every_change_made_since_this_process_last_read_the_configuration(
    api: httpx.AsyncClient, app_container: Container, client_for: Callable[[str], httpx.AsyncClient],
) -> None:
    """The one-statement path commits on the configuration as last read only if the row is still
    at that version and the recipient not suppressed: any change in between is answered as if the
    configuration had been read afresh."""
    config = await sendable_configuration(app_container, "tenant-a", "memo")
    assert (await post(api, send_body(config.e_id), key="m-1")).status_code == 202  # now remembered
    async with app_container.ctx.uow("tenant-a") as uow:
        await uow.suppressions.add_if_absent(SuppressionEntry.new(
            tenant_id="tenant-a", recipient="later@example.com", reason=SuppressionReason.SPAM_COMPLAINT,
            origin=SuppressionOrigin.WEBHOOK, now=app_container.ctx.clock(),
        ))
        await uow.commit()
    assert (await post(api, send_body(config.e_id, recipient="later@example.com"), key="m-2")).status_code == 403
    async with client_for("tenant-b") as other:  # another tenant never meets tenant-a's memory
        assert (await post(other, send_body(config.e_id), key="m-3")).status_code == 404
    assert (await api.post(f"/configuration/{config.e_id}/lock")).status_code == 200
    locked = await post(api, send_body(config.e_id), key="m-4")
    assert locked.status_code == 409 and locked.json()["error"] == "NotSendable"
    assert (await api.post(f"/configuration/{config.e_id}/unlock")).status_code == 200
    assert (await post(api, send_body(config.e_id), key="m-5")).status_code == 202
    async with client_for("tenant-b") as other:
        assert (await other.get("/job")).json()["total"] == 0
    assert (await api.get("/job")).json()["total"] == 2
