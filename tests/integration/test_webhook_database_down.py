"""Database unavailable while a webhook arrives → 503 (Postmark retries), and the retry lands.

A real failure: the Container is pointed at a PostgreSQL port nothing listens on for the tenant lookup,
at a database it cannot reach or open (the backend's own) for the ingest transaction, or both.
"""

from __future__ import annotations

import dataclasses

import pytest

from tenantmail.adapters.db.engine import create_engine
from tenantmail.adapters.db.intake.dialects import DIALECTS
from tenantmail.adapters.db.intake.group_commit import GroupCommit, Lane
from tenantmail.adapters.db.intake.postgres_lane import PostgresLane
from tenantmail.adapters.db.intake.sqlite_lane import SqliteLane
from tenantmail.adapters.db.intake.webhook_events import EventStore
from tenantmail.bootstrap import Container
from tenantmail.domain.job import JobStatus
from tests import webhook_support as pm
from tests.app_fixtures import free_port
from tests.webhook_support import seed


@pytest.mark.parametrize("down", ["lookup", "transaction", "both"])
async def test_database_down_answers_503_then_the_retry_is_stored(engine, api, app_container: Container, down: str) -> None:
    seeded = await seed(app_container.ctx, "tenant-a")
    job = seeded.job
    body = pm.delivery(job.message_id, job.recipient, job=job.e_id)
    real_engine, real_ctx = app_container.engine, app_container.ctx
    dead_url = f"postgresql://postgres@127.0.0.1:{free_port()}/gone"
    dead = create_engine(dead_url)
    lane: Lane = PostgresLane(dead_url) if engine.dialect.name == "postgresql" \
        else SqliteLane("sqlite:////dev/null/gone.sqlite3", lambda: None)  # a file that cannot be opened
    dead_commit = GroupCommit([lane])
    if down in ("lookup", "both"):
        app_container.engine = dead
    if down in ("transaction", "both"):  # the transaction as this backend runs it, on a dead database
        dead_store = EventStore(dead_commit, DIALECTS[engine.dialect.name])
        app_container.ctx = dataclasses.replace(real_ctx, event_store=dead_store)
    try:
        refused = await api.post("/job/postmark-events", json=body, auth=seeded.credentials)
    finally:
        app_container.engine, app_container.ctx = real_engine, real_ctx
        await dead.dispose()
        await dead_commit.close()
    assert refused.status_code == 503
    assert refused.json()["error"] == "ServiceUnavailable"

    retried = await api.post("/job/postmark-events", json=body, auth=seeded.credentials)
    assert retried.json()["outcome"] == "matched"
    async with app_container.ctx.uow("tenant-a") as uow:
        assert (await uow.jobs.get(job.e_id)).status is JobStatus.DELIVERED
