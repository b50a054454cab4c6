"""The notification outbox on both databases: every change writes its rows in its own transaction,
for exactly the tenant's enabled endpoints that take its type — the webhook's intake inside its
group-commit unit, the unit of work everywhere else."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tenantmail.adapters.db.tables import notification_deliveries as deliveries
from tenantmail.bootstrap import Container
from tenantmail.domain.job import JobStatus
from tenantmail.services import manage_notifications
from tests import webhook_support as pm
from tests.helpers import create_configuration_via_api
from tests.webhook_support import Seeded, seed

WEBHOOK = "/job/postmark-events"
RECEIVER = "http://127.0.0.1:9/hook"  # never called here


async def endpoint(app: Container, tenant: str = "tenant-a", *types: str, enabled: bool = True) -> str:
    created, _ = await manage_notifications.create_endpoint(
        app.ctx, tenant, url=RECEIVER, event_types=[manage_notifications.NotificationType(t) for t in types],
        enabled=enabled)
    return created.e_id


async def outbox(app: Container) -> list[dict[str, Any]]:
    async with app.engine.connect() as conn:
        rows = await conn.execute(select(deliveries).order_by(deliveries.c.seq))
        return [dict(r._mapping) for r in rows]


def kinds(rows: list[dict[str, Any]], endpoint_e_id: str) -> list[tuple[str, str]]:
    return [(r["event_type"], r["subject_id"]) for r in rows if r["endpoint_e_id"] == endpoint_e_id]


async def post(api: httpx.AsyncClient, seeded: Seeded, body: dict[str, Any]) -> None:
    response = await api.post(WEBHOOK, json=body, auth=seeded.credentials)
    assert response.status_code == 200, response.text


@pytest.fixture
async def seeded(engine, app_container: Container) -> Seeded:  # engine: start from empty tables
    return await seed(app_container.ctx, "tenant-a")


async def test_a_delivery_webhook_writes_one_row_per_interested_enabled_endpoint_of_the_tenant(
    api, app_container, seeded,
) -> None:
    everything = await endpoint(app_container)
    jobs_only = await endpoint(app_container, "tenant-a", "job.delivered", "job.bounced")
    other_types = await endpoint(app_container, "tenant-a", "suppression.added")
    disabled = await endpoint(app_container, enabled=False)
    other_tenant = await endpoint(app_container, "tenant-b")
    job = seeded.job
    await post(api, seeded, pm.delivery(job.message_id, job.recipient, job=job.e_id))
    await post(api, seeded, pm.delivery(job.message_id, job.recipient, job=job.e_id))  # Postmark's retry: a duplicate
    rows = await outbox(app_container)
    assert kinds(rows, everything) == kinds(rows, jobs_only) == [("job.delivered", job.e_id)]
    assert kinds(rows, other_types) == kinds(rows, disabled) == kinds(rows, other_tenant) == []
    assert {r["message_id"] for r in rows} == {rows[0]["message_id"]}  # one webhook-id for the event
    assert rows[0]["message_id"].startswith("msg_") and rows[0]["state"] == "pending" and rows[0]["body"] is None


async def test_an_outcome_that_overtakes_its_sent_notifies_job_sent_first(api, app_container, engine) -> None:
    seeded = await seed(app_container.ctx, "tenant-a", status=JobStatus.SENDING)
    everything = await endpoint(app_container)
    job = seeded.job
    await post(api, seeded, pm.delivery(job.message_id, job.recipient, job=job.e_id))
    rows = await outbox(app_container)
    assert kinds(rows, everything) == [("job.sent", job.e_id), ("job.delivered", job.e_id)]
    assert rows[0]["message_id"] != rows[1]["message_id"]


async def test_a_bounce_notifies_the_job_and_the_suppression_and_a_lift_the_removal(api, app_container, seeded) -> None:
    everything = await endpoint(app_container)
    job = seeded.job
    await post(api, seeded, pm.bounce(job.message_id, job.recipient, job=job.e_id))
    async with app_container.ctx.uow("tenant-a") as uow:
        entry = await uow.suppressions.live(job.recipient)
    await post(api, seeded, pm.subscription_change(job.recipient, suppress=False))
    await post(api, seeded, pm.subscription_change(job.recipient, suppress=False))  # nothing left to lift
    found = kinds(await outbox(app_container), everything)
    # order is kept per subject (a job's, an entry's); between subjects it is not promised
    assert [k for k in found if k[1] == job.e_id] == [("job.bounced", job.e_id)]
    assert [k for k in found if k[1] == entry.id] == [("suppression.added", entry.id), ("suppression.removed", entry.id)]


async def test_a_contradicting_event_notifies_job_inconsistent(api, app_container, seeded) -> None:
    everything = await endpoint(app_container)
    job = seeded.job
    await post(api, seeded, pm.bounce(job.message_id, job.recipient, job=job.e_id, when=2))
    await post(api, seeded, pm.delivery(job.message_id, job.recipient, job=job.e_id, when=3))
    assert [k for k, subject in kinds(await outbox(app_container), everything) if subject == job.e_id] == [
        "job.bounced", "job.inconsistent"]


async def test_without_endpoints_nothing_is_written(api, app_container, seeded) -> None:
    job = seeded.job
    await post(api, seeded, pm.bounce(job.message_id, job.recipient, job=job.e_id))
    assert await outbox(app_container) == []


async def test_api_changes_write_their_rows_in_their_own_transaction(api, app_container, engine) -> None:
    everything = await endpoint(app_container)
    config = (await create_configuration_via_api(api, "notify"))["eId"]
    assert (await api.post(f"/configuration/{config}/lock")).status_code in (200, 409)
    added = await api.post("/suppression", json={"recipient": "x@example.com"})
    assert (await api.post("/suppression", json={"recipient": "x@example.com"})).status_code == 200  # exists
    assert (await api.post("/suppression/x@example.com/remove")).status_code == 200
    found = [k for k, _ in kinds(await outbox(app_container), everything)]
    assert found[0] == "configuration.changed"
    assert found[-2:] == ["suppression.added", "suppression.removed"]
    assert added.status_code == 201
