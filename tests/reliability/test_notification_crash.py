"""A notification worker SIGKILLed every 2 s loses no notification (SPEC §17, decisions D20).

PostgreSQL, real processes: 1,000 jobs are dispatched to the sandbox by a steady ``tenantmail
worker --only dispatch`` (each ``job.sent`` written in the dispatcher's transaction), then a
Delivery webhook per job goes through the API (each ``job.delivered`` written inside the intake's
group-commit unit). A ``tenantmail worker --only notifications`` delivers them to a real local
receiver that answers 500 a third of the time, and is killed with SIGKILL 2 s after each start
(once its /readyz answers) and started again. Every one of the 2,000 events must arrive, answered
200, at least once (the receiver deduplicates by webhook-id), each job's in order.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import API_KEY, Stack, queue_jobs, start_stack
from tenantmail.adapters.db.tables import jobs, notification_deliveries
from tenantmail.entrypoints.api.app import create_app
from tenantmail.services.manage_notifications import create_endpoint
from tests import webhook_support as pm
from tests.app_fixtures import free_port
from tests.helpers import job_statuses, sendable_configuration
from tests.notification_support import NotificationReceiver

pytestmark = pytest.mark.slow
JOBS = int(os.environ.get("TENANTMAIL_CRASH_JOBS", "1000"))
DEADLINE_SECONDS = 420  #: a bound, not a figure: ~3 min on this shared 2-core machine
KILL_AFTER_READY_SECONDS = 2.0


@pytest.fixture
async def stack(engine: AsyncEngine, database_url: str, backend: str, tmp_path: Path) -> Stack:
    if backend != "postgresql":
        pytest.skip("several worker processes are a PostgreSQL deployment (SQLite is single-process)")
    started = await start_stack(database_url, tmp_path / "var", worker_poll_seconds=0.05)
    yield started
    await started.close()


NOTIFIER_ENV = {
    "TENANTMAIL_NOTIFICATION_TIMEOUT_SECONDS": "1", "TENANTMAIL_NOTIFICATION_LEASE_SECONDS": "2",
    "TENANTMAIL_NOTIFICATION_RETRY_BASE_SECONDS": "0.1", "TENANTMAIL_NOTIFICATION_RETRY_CAP_SECONDS": "1",
}


async def ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1) as client:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("the notification worker did not become ready")


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(timeout=10)


async def pending_notifications(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(notification_deliveries)
                                   .where(notification_deliveries.c.state != "delivered"))).scalar_one()


async def test_a_sigkilled_notification_worker_loses_no_event(
    stack: Stack, engine: AsyncEngine, notification_receiver: NotificationReceiver,
) -> None:
    notification_receiver.failure_rate = 1 / 3
    config = await sendable_configuration(stack.app, "tenant-notify", "notify")
    endpoint, secret = await create_endpoint(stack.app.ctx, "tenant-notify", url=notification_receiver.url)
    await queue_jobs(stack.app, config, JOBS)
    dispatcher = stack.spawn("worker", "--only", "dispatch", TENANTMAIL_WORKER_PORT=str(free_port()))
    kills, deadline = 0, time.monotonic() + DEADLINE_SECONDS
    webhooks: asyncio.Task[None] | None = None
    notifier: subprocess.Popen[bytes] | None = None
    try:
        while time.monotonic() < deadline:
            port = free_port()
            notifier = stack.spawn("worker", "--only", "notifications", TENANTMAIL_WORKER_PORT=str(port), **NOTIFIER_ENV)
            await ready(port, notifier)
            await asyncio.sleep(KILL_AFTER_READY_SECONDS)
            kill(notifier)
            kills += 1
            sent = (await job_statuses(engine))["SENT"]
            if webhooks is None and sent == JOBS:
                webhooks = asyncio.create_task(post_deliveries(stack, config.e_id))
            if webhooks is not None and webhooks.done() and not await pending_notifications(engine):
                break
        assert webhooks is not None and webhooks.done(), "not everything was dispatched and reported in time"
        webhooks.result()
        left = await pending_notifications(engine)
        assert not left, f"{left} notifications still undelivered after {DEADLINE_SECONDS} s ({kills} kills)"
    finally:
        for proc in (dispatcher, notifier):
            if proc is not None and proc.poll() is None:
                kill(proc)

    async with engine.connect() as conn:
        job_ids = set((await conn.execute(select(jobs.c.e_id))).scalars())
        outbox = (await conn.execute(select(notification_deliveries))).mappings().all()
    unique = notification_receiver.unique()
    arrived = {a.webhook_id: a.status for a in notification_receiver.arrivals}
    lost = [(r["message_id"], r["event_type"], r["state"], r["attempts"], r["last_status_code"], arrived.get(r["message_id"]))
            for r in outbox if r["message_id"] not in unique]
    assert not lost, f"{len(lost)} of {len(outbox)} rows never arrived with a 2xx: {lost[:10]}"
    per_job: dict[str, list[str]] = defaultdict(list)
    for arrival in unique.values():
        per_job[arrival.json["data"]["eId"]].append(arrival.json["type"])
    assert set(per_job) == job_ids
    assert all(types == ["job.sent", "job.delivered"] for types in per_job.values())  # none missing, in order
    assert len(unique) == 2 * JOBS
    assert kills >= 3
    attempts = len(notification_receiver.arrivals)
    print(f"\n{kills} kills, {attempts} attempts for {len(unique)} notifications, "
          f"{len(notification_receiver.accepted()) - len(unique)} duplicates deduplicated by webhook-id")
    assert endpoint.e_id and secret


async def post_deliveries(stack: Stack, config_e_id: str) -> None:
    """A Delivery webhook for every job, through the API as Postmark would post them."""
    app = stack.app
    async with app.engine.connect() as conn:
        sent = (await conn.execute(select(jobs.c.e_id, jobs.c.message_id, jobs.c.recipient))).all()
    async with app.ctx.uow("tenant-notify") as uow:
        config = await uow.configurations.get(config_e_id)
    auth = (config_e_id, app.ctx.webhook_secrets.current(config_e_id))
    transport = httpx.ASGITransport(app=create_app(container=app))
    semaphore = asyncio.Semaphore(16)
    async with httpx.AsyncClient(transport=transport, base_url="http://api" + app.settings.api_prefix,
                                 headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        async def one(e_id: str, message_id: str, recipient: str) -> None:
            async with semaphore:
                body = pm.delivery(message_id, recipient, job=e_id, server_id=config.server_id or 0)
                response = await client.post("/job/postmark-events", json=body, auth=auth)
                assert response.status_code == 200, response.text

        await asyncio.gather(*(one(*row) for row in sent))
