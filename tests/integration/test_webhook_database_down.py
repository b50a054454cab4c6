"""Database unavailable while a webhook arrives → 503 (Postmark retries), and the retry lands.

A real failure: the App is pointed at a PostgreSQL port nothing listens on, for the tenant lookup,
for the ingest transaction, or both.
"""

from __future__ import annotations

import dataclasses

import pytest

from tenantmail.adapters.db.direct_pool import DirectPool
from tenantmail.adapters.db.engine import create_engine
from tenantmail.adapters.db.event_intake import PostgresEventIntake, UnitOfWorkEventIntake
from tenantmail.adapters.db.group_commit import GroupCommit
from tenantmail.adapters.db.unit_of_work import UnitOfWork
from tenantmail.bootstrap import App
from tenantmail.domain.job import JobStatus
from tests import webhook_support as pm
from tests.app_fixtures import free_port
from tests.webhook_support import seed


@pytest.mark.parametrize("down", ["lookup", "transaction", "both"])
async def test_database_down_answers_503_then_the_retry_is_stored(engine, api, app_container: App, down: str) -> None:
    seeded = await seed(app_container.ctx, "tenant-a")
    job = seeded.job
    body = pm.delivery(job.message_id, job.recipient, job=job.e_id)
    real_engine, real_ctx = app_container.engine, app_container.ctx
    dead_url = f"postgresql://postgres@127.0.0.1:{free_port()}/gone"
    dead, dead_direct = create_engine(dead_url), DirectPool(dead_url)
    if down in ("lookup", "both"):
        app_container.engine = dead
    if down in ("transaction", "both"):  # the transaction as this backend runs it, on a dead server
        intake = (lambda tenant: PostgresEventIntake(GroupCommit(dead_direct), tenant)) if engine.dialect.name == "postgresql" \
            else (lambda tenant: UnitOfWorkEventIntake(UnitOfWork(dead, tenant)))
        app_container.ctx = dataclasses.replace(real_ctx, event_intake=intake)
    try:
        refused = await api.post("/job/postmark-events", json=body, auth=seeded.credentials)
    finally:
        app_container.engine, app_container.ctx = real_engine, real_ctx
        await dead.dispose()
        await dead_direct.close()
    assert refused.status_code == 503
    assert refused.json()["error"] == "ServiceUnavailable"

    retried = await api.post("/job/postmark-events", json=body, auth=seeded.credentials)
    assert retried.json()["outcome"] == "matched"
    async with app_container.ctx.uow("tenant-a") as uow:
        assert (await uow.jobs.get(job.e_id)).status is JobStatus.DELIVERED
