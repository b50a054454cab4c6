"""POST /job/postmark-events and GET /job/{eId}/events through the API, on both databases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import reduce
from itertools import permutations
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select, text

from tenantmail.adapters.db.tables import jobs
from tenantmail.adapters.telemetry import Telemetry
from tenantmail.bootstrap import Container
from tenantmail.domain.job import EmailJob, JobStatus, project
from tests import webhook_support as pm
from tests.helpers import eventually
from tests.webhook_support import Seeded, seed

WEBHOOK = "/job/postmark-events"


@pytest.fixture
async def seeded(engine, app_container: Container) -> Seeded:  # engine: start from empty tables
    return await seed(app_container.ctx, "tenant-a")


async def post(api: httpx.AsyncClient, seeded: Seeded, body: Any, *,
               credentials: tuple[str, str] | None = None) -> httpx.Response:
    auth = credentials or seeded.credentials
    if isinstance(body, bytes):
        return await api.post(WEBHOOK, content=body, auth=auth, headers={"Content-Type": "application/json"})
    return await api.post(WEBHOOK, json=body, auth=auth)


async def job_status(app: Container, seeded: Seeded) -> JobStatus:
    async with app.ctx.uow("tenant-a") as uow:
        return (await uow.jobs.get(seeded.job.e_id)).status


async def live_suppression(app: Container, tenant: str, recipient: str):  # type: ignore[no-untyped-def]
    async with app.ctx.uow(tenant) as uow:
        return await uow.suppressions.live(recipient)


def counter(app: Container, name: str, **labels: str) -> float:
    registry: CollectorRegistry = app.telemetry.registry
    return registry.get_sample_value(f"{name}_total", labels) or 0.0


async def test_delivery_matched_by_tm_job_marks_the_job_delivered(api, app_container, seeded) -> None:
    job = seeded.job
    response = await post(api, seeded, pm.delivery("not-the-message-id", job.recipient, job=job.e_id))
    assert response.status_code == 200, response.text
    assert response.json() == {"outcome": "matched", "jobEId": job.e_id, "status": "DELIVERED"}
    assert await job_status(app_container, seeded) is JobStatus.DELIVERED


async def test_delivery_matched_by_message_id_when_metadata_is_empty(api, app_container, seeded) -> None:
    response = await post(api, seeded, pm.delivery(seeded.job.message_id, seeded.job.recipient))
    assert response.json()["outcome"] == "matched"
    assert await job_status(app_container, seeded) is JobStatus.DELIVERED


@pytest.mark.parametrize("bounce_type,type_code", [("HardBounce", 1), ("BadEmailAddress", 100000),
                                                   ("ManuallyDeactivated", 100002)])
async def test_permanent_bounce_bounces_the_job_and_suppresses(
    api, app_container, seeded, bounce_type, type_code,
) -> None:
    job = seeded.job
    body = pm.bounce(job.message_id, "John@Example.com", bounce_type=bounce_type, type_code=type_code, job=job.e_id)
    response = await post(api, seeded, body)
    assert response.json()["status"] == "BOUNCED"
    entry = await live_suppression(app_container, "tenant-a", "john@example.com")
    assert (entry.reason.value, entry.origin.value) == ("HardBounce", "webhook")


# the full TypeCode table is covered by tests/unit/test_webhook_normalize.py
@pytest.mark.parametrize("bounce_type,type_code", [
    ("Transient", 2), ("SoftBounce", 4096), ("DMARCPolicy", 100009),
])
async def test_other_bounce_types_are_stored_without_moving_the_job(
    api, app_container, seeded, bounce_type, type_code,
) -> None:
    job = seeded.job
    response = await post(api, seeded, pm.bounce(job.message_id, job.recipient, bounce_type=bounce_type,
                                                 type_code=type_code, job=job.e_id))
    assert response.json() == {"outcome": "matched", "jobEId": job.e_id, "status": "SENT"}
    assert await live_suppression(app_container, "tenant-a", job.recipient) is None


async def test_spam_complaint_marks_complained_and_suppresses(api, app_container, seeded) -> None:
    job = seeded.job
    await post(api, seeded, pm.delivery(job.message_id, job.recipient, job=job.e_id))
    response = await post(api, seeded, pm.spam_complaint(job.message_id, job.recipient, job=job.e_id))
    assert response.json()["status"] == "COMPLAINED"
    entry = await live_suppression(app_container, "tenant-a", job.recipient)
    assert entry.reason.value == "SpamComplaint"
    assert counter(app_container, "email_webhook_projection", from_status="DELIVERED",
                   to_status="COMPLAINED") == 1


@pytest.mark.parametrize("build", [pm.open_event, pm.click])
async def test_open_and_click_are_stored_only(api, app_container, seeded, build: Callable[..., Any]) -> None:
    job = seeded.job
    response = await post(api, seeded, build(job.message_id, job.recipient, job=job.e_id))
    assert response.json()["status"] == "SENT"
    page = (await api.get(f"/job/{job.e_id}/events")).json()
    assert [e["recordType"] for e in page["items"]] == [build(job.message_id, job.recipient)["RecordType"]]


async def test_subscription_change_suppresses_then_reactivates(api, app_container, seeded) -> None:
    await post(api, seeded, pm.subscription_change("Jane@Example.com", suppress=True, when=1))
    entry = await live_suppression(app_container, "tenant-a", "jane@example.com")
    assert (entry.reason.value, entry.origin.value) == ("ManualSuppression", "postmark")
    response = await post(api, seeded, pm.subscription_change("jane@example.com", suppress=False, when=2))
    assert response.json()["outcome"] == "unmatched"
    assert await live_suppression(app_container, "tenant-a", "jane@example.com") is None


async def test_reactivation_never_lifts_a_spam_complaint(api, app_container, seeded) -> None:
    job = seeded.job
    await post(api, seeded, pm.spam_complaint(job.message_id, job.recipient, job=job.e_id))
    await post(api, seeded, pm.subscription_change(job.recipient, suppress=False))
    entry = await live_suppression(app_container, "tenant-a", job.recipient)
    assert entry.reason.value == "SpamComplaint"


async def test_less_concerning_event_after_a_bounce_marks_inconsistent(api, app_container, seeded) -> None:
    job = seeded.job
    await post(api, seeded, pm.bounce(job.message_id, job.recipient, job=job.e_id, when=1))
    response = await post(api, seeded, pm.delivery(job.message_id, job.recipient, job=job.e_id, when=2))
    assert response.json()["status"] == "INCONSISTENT"
    assert await job_status(app_container, seeded) is JobStatus.INCONSISTENT
    assert counter(app_container, "email_webhook_inconsistent", record_type="Delivery") == 1


async def test_a_duplicate_answers_200_and_changes_nothing(api, app_container, seeded) -> None:
    job = seeded.job
    body = pm.bounce(job.message_id, job.recipient, job=job.e_id, bounce_id=77)
    first, second = await post(api, seeded, body), await post(api, seeded, body)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["outcome"] == "duplicate"
    page = (await api.get(f"/job/{job.e_id}/events")).json()
    assert page["total"] == 1
    assert counter(app_container, "email_webhook_duplicate", record_type="Bounce") == 1


async def test_unmatched_event_is_stored_and_counted(api, app_container, seeded) -> None:
    response = await post(api, seeded, pm.delivery(str(uuid.uuid4()), "nobody@example.com"))
    assert response.json() == {"outcome": "unmatched", "jobEId": None, "status": None}
    assert counter(app_container, "email_webhook_unmatched", record_type="Delivery") == 1


async def test_unknown_record_type_is_stored_not_refused(api, app_container, seeded) -> None:
    body = {**pm.delivery(seeded.job.message_id, seeded.job.recipient), "RecordType": "FutureThing"}
    response = await post(api, seeded, body)
    assert response.status_code == 200
    assert response.json()["status"] == "SENT"
    assert counter(app_container, "email_webhook_received", record_type="Unknown") == 1


@pytest.mark.parametrize("credentials", [
    pytest.param(lambda s: (s.configuration.e_id, "wrong-password"), id="wrong-password"),
    pytest.param(lambda s: (str(uuid.uuid4()), "whatever"), id="unknown-configuration"),
    pytest.param(lambda s: ("", ""), id="empty"),
])
async def test_bad_credentials_answer_401_and_store_nothing(api, app_container, seeded, credentials) -> None:
    job = seeded.job
    response = await post(api, seeded, pm.delivery(job.message_id, job.recipient), credentials=credentials(seeded))
    assert response.status_code == 401
    assert set(response.json()) >= {"error", "message", "requestId"}
    assert await job_status(app_container, seeded) is JobStatus.SENT
    assert counter(app_container, "email_webhook_rejected", reason="auth_mismatch") == 1


async def test_missing_authorization_header_answers_401(api, seeded) -> None:
    response = await api.post(WEBHOOK, json=pm.delivery("m", "a@b.c"), headers={"Authorization": ""})
    assert response.status_code == 401


async def test_another_tenants_credentials_cannot_touch_this_tenants_job(api, app_container, seeded) -> None:
    other = await seed(app_container.ctx, "tenant-b", server_id=99)
    job = seeded.job
    # tenant-b's valid credentials, tenant-b's ServerID, tenant-a's job and message
    response = await post(api, seeded, pm.delivery(job.message_id, job.recipient, job=job.e_id, server_id=99),
                          credentials=other.credentials)
    assert response.json()["outcome"] == "unmatched"
    assert await job_status(app_container, seeded) is JobStatus.SENT
    # and tenant-a's credentials with tenant-b's server are refused
    response = await post(api, seeded, pm.delivery(job.message_id, job.recipient, server_id=99))
    assert response.status_code == 401


async def test_wrong_server_id_answers_401(api, app_container, seeded) -> None:
    job = seeded.job
    response = await post(api, seeded, pm.delivery(job.message_id, job.recipient, server_id=24))
    assert response.status_code == 401
    assert await job_status(app_container, seeded) is JobStatus.SENT


@pytest.mark.parametrize("build", [pm.open_event, pm.click])
async def test_an_open_or_click_naming_another_server_answers_401(api, seeded, build) -> None:
    """Open and Click may omit ServerID (Postmark's payloads do), but one that names another
    server is still refused."""
    job = seeded.job
    response = await post(api, seeded, build(job.message_id, job.recipient, server_id=24))
    assert response.status_code == 401
    assert (await api.get(f"/job/{job.e_id}/events")).json()["items"] == []


async def test_a_delivery_without_server_id_answers_401(api, app_container, seeded) -> None:
    job = seeded.job
    body = {k: v for k, v in pm.delivery(job.message_id, job.recipient).items() if k != "ServerID"}
    assert (await post(api, seeded, body)).status_code == 401
    assert await job_status(app_container, seeded) is JobStatus.SENT


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"MessageID": "x"}', b'{"RecordType": ""}', b"\xff"])
async def test_malformed_body_answers_400(api, app_container, seeded, body: bytes) -> None:
    response = await post(api, seeded, body)
    assert response.status_code == 400
    assert counter(app_container, "email_webhook_rejected", reason="malformed") == 1


async def test_bad_credentials_win_over_a_malformed_body(api, seeded) -> None:
    response = await post(api, seeded, b"{not json", credentials=(seeded.configuration.e_id, "nope"))
    assert response.status_code == 401


async def test_job_events_are_tenant_scoped(api, client_for, seeded) -> None:
    job = seeded.job
    await post(api, seeded, pm.delivery(job.message_id, job.recipient, job=job.e_id))
    mine = await api.get(f"/job/{job.e_id}/events")
    assert mine.status_code == 200
    assert mine.json()["items"][0]["occurredAt"] == "2024-05-01T12:00:01.000Z"
    async with client_for("tenant-b") as other:
        assert (await other.get(f"/job/{job.e_id}/events")).status_code == 404
    assert (await api.get(f"/job/{uuid.uuid4()}/events")).status_code == 404


async def test_job_events_need_the_bearer_key(api, seeded) -> None:
    response = await api.get(f"/job/{seeded.job.e_id}/events", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


async def test_an_inconsistent_job_is_reported_to_sentry_with_its_fingerprint(
    api, app_container: Container, seeded, sentry_events
) -> None:  # type: ignore[no-untyped-def]
    app_container.ctx = replace(app_container.ctx, telemetry=Telemetry(
        CollectorRegistry(), sentry_enabled=True, environment=app_container.settings.partition,
    ))
    job = seeded.job
    await post(api, seeded, pm.bounce(job.message_id, job.recipient, job=job.e_id, when=1))
    await post(api, seeded, pm.delivery(job.message_id, job.recipient, job=job.e_id, when=2))
    [event] = [e for e in sentry_events if e.get("message") == "email.webhook.inconsistent"]
    assert event["fingerprint"] == ["email.webhook.inconsistent", job.e_id]
    assert event["environment"] == app_container.settings.partition


async def test_tm_job_wins_over_a_message_id_naming_another_job(api, app_container, seeded) -> None:
    other = EmailJob.queue(tenant_id="tenant-a", configuration_e_id=seeded.configuration.e_id, recipient="jane@example.com",
                           subject="Other", idempotency_key="other", now=app_container.ctx.clock(), text_body="hi")
    other.move(JobStatus.SENT, app_container.ctx.clock())
    async with app_container.ctx.uow("tenant-a") as uow:
        await uow.jobs.add(other)
        await uow.commit()
    response = await post(api, seeded, pm.delivery(seeded.job.message_id, other.recipient, job=other.e_id))
    assert response.json() == {"outcome": "matched", "jobEId": other.e_id, "status": "DELIVERED"}
    assert await job_status(app_container, seeded) is JobStatus.SENT


async def test_an_event_for_a_job_in_dispatch_keeps_the_dispatchers_lease(api, app_container, engine) -> None:
    """Delivery can be reported before the dispatcher commits Postmark's answer: the event moves the
    job, and the lease (the dispatcher's claim) is left as it was."""
    seeded = await seed(app_container.ctx, "tenant-a", status=JobStatus.QUEUED)
    claimed = (await app_container.ctx.work.claim_jobs(app_container.ctx.clock(), 10)).jobs
    assert [c.e_id for c in claimed] == [seeded.job.e_id]
    response = await post(api, seeded, pm.delivery(seeded.job.message_id, seeded.job.recipient, job=seeded.job.e_id))
    assert response.json()["status"] == "DELIVERED"
    async with engine.connect() as conn:
        lease = (await conn.execute(select(jobs.c.lease_owner, jobs.c.lease_until)
                                    .where(jobs.c.e_id == seeded.job.e_id))).one()
    assert lease.lease_owner == app_container.ctx.work.owner and lease.lease_until is not None


async def test_concurrent_events_of_one_job_are_applied_one_at_a_time(api, app_container, seeded) -> None:
    """Three events of one job, each posted four times at once: every event is stored once, and the
    job ends where some serial order of the three ends — never where two events both projected
    from the status before either (a lost update: e.g. DELIVERED after a bounce)."""
    job = seeded.job
    bodies = [pm.delivery(job.message_id, job.recipient, job=job.e_id),
              pm.bounce(job.message_id, job.recipient, job=job.e_id),
              pm.spam_complaint(job.message_id, job.recipient, job=job.e_id)]
    answers = await asyncio.gather(*(post(api, seeded, body) for body in bodies * 4))
    assert [a.status_code for a in answers] == [200] * 12
    assert sorted(a.json()["outcome"] for a in answers).count("matched") == 3
    implied = (JobStatus.DELIVERED, JobStatus.BOUNCED, JobStatus.COMPLAINED)
    serial_ends = {reduce(project, order, JobStatus.SENT) for order in permutations(implied)}
    assert await job_status(app_container, seeded) in serial_ends
    async with app_container.ctx.uow("tenant-a") as uow:
        assert (await uow.events.list(job_e_id=job.e_id))[1] == 3


async def _at_least(count: Callable[[], Awaitable[int]], n: int) -> bool:
    return await count() >= n


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_events_queued_behind_a_locked_job_each_see_the_status_the_last_one_left(
    api, app_container, seeded, engine,
) -> None:
    """The three events arrive while another transaction holds the job's row, so all of them are
    in flight together; when it lets go they must still apply one after another. Queued most
    concerning first, so the last to apply (a Delivery) would win if each projected from the
    status before the others — DELIVERED, which no serial order ends in."""
    job = seeded.job
    bodies = [pm.spam_complaint(job.message_id, job.recipient, job=job.e_id),
              pm.bounce(job.message_id, job.recipient, job=job.e_id),
              pm.delivery(job.message_id, job.recipient, job=job.e_id)]
    async def waiting() -> int:
        """Events waiting: on the row's lock (one per lane), or queued for a lane."""
        async with engine.connect() as probe:
            on_lock = (await probe.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"))).scalar_one()
        return int(on_lock) + app_container.intake.commit.queued

    async with engine.connect() as holder:
        await holder.execute(select(jobs.c.e_id).where(jobs.c.e_id == job.e_id).with_for_update())
        pending = []
        for count, body in enumerate(bodies, start=1):  # one after another into the row's lock queue
            pending.append(asyncio.create_task(post(api, seeded, body)))
            await eventually(lambda count=count: _at_least(waiting, count))
        await holder.commit()  # each is waiting for the row now, well within the 2 s lock wait
    assert [(await answer).status_code for answer in pending] == [200] * 3
    implied = (JobStatus.DELIVERED, JobStatus.BOUNCED, JobStatus.COMPLAINED)
    serial_ends = {reduce(project, order, JobStatus.SENT) for order in permutations(implied)}
    assert await job_status(app_container, seeded) in serial_ends
