"""The projection property through the real ingest service and database (smaller examples).

Any interleaving, duplication and reordering of a job's webhook events stores each event once and
ends where severity order ends — or INCONSISTENT when a less concerning event came after a more
concerning one.
"""

from __future__ import annotations

import json
import uuid
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenantmail.adapters.db.repositories.events import find_tenant_of_configuration
from tenantmail.bootstrap import Container
from tenantmail.domain.job import SEVERITY, EmailJob, JobStatus
from tenantmail.entrypoints.api.routes.webhooks import parse_event
from tenantmail.services.ingest_webhook_event import WebhookCall, ingest_webhook_event
from tests import webhook_support as pm
from tests.webhook_support import T0, Seeded, seed

IMPLIES = {"Delivery": JobStatus.DELIVERED, "HardBounce": JobStatus.BOUNCED,
           "SpamComplaint": JobStatus.COMPLAINED}
BUILDERS = {
    "Delivery": lambda job, n: pm.delivery(job.message_id, job.recipient, job=job.e_id, when=n),
    "HardBounce": lambda job, n: pm.bounce(job.message_id, job.recipient, job=job.e_id, when=n, bounce_id=n),
    "SoftBounce": lambda job, n: pm.bounce(job.message_id, job.recipient, bounce_type="SoftBounce",
                                           type_code=4096, job=job.e_id, when=n, bounce_id=n),
    "SpamComplaint": lambda job, n: pm.spam_complaint(job.message_id, job.recipient, job=job.e_id, when=n),
    "Open": lambda job, n: pm.open_event(job.message_id, job.recipient, job=job.e_id, when=n),
}


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[str], list[int]]:
    """(distinct event kinds, arrival order as indices: each at least once, some repeated)."""
    kinds = draw(st.lists(st.sampled_from(sorted(BUILDERS)), min_size=1, max_size=4))
    repeats = draw(st.lists(st.integers(0, len(kinds) - 1), max_size=3))
    return kinds, draw(st.permutations(list(range(len(kinds))) + repeats))


def expected_status(kinds: list[str], order: list[int]) -> JobStatus:
    ranks = [SEVERITY.index(IMPLIES[kinds[i]]) for i in dict.fromkeys(order) if kinds[i] in IMPLIES]
    if any(later < earlier for n, earlier in enumerate(ranks) for later in ranks[n + 1:]):
        return JobStatus.INCONSISTENT
    return SEVERITY[max(ranks, default=0)]


@pytest.fixture
async def seeded(engine, app_container: Container) -> Seeded:  # engine: start from empty tables
    return await seed(app_container.ctx, "tenant-a")


async def new_job(app: Container, seeded: Seeded) -> EmailJob:
    job = EmailJob.queue(tenant_id="tenant-a", configuration_e_id=seeded.configuration.e_id,
                         recipient=f"{uuid.uuid4().hex[:8]}@example.com", subject="s",
                         idempotency_key=uuid.uuid4().hex, now=T0, text_body="t")
    job.message_id = str(uuid.uuid4())
    job.move(JobStatus.SENT, T0)
    async with app.ctx.uow("tenant-a") as uow:
        await uow.jobs.add(job)
        await uow.commit()
    return job


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=arrivals())
async def test_any_arrival_order_through_the_service(app_container: Container, seeded: Seeded, case) -> None:  # type: ignore[no-untyped-def]
    kinds, order = case
    job = await new_job(app_container, seeded)
    bodies: list[dict[str, Any]] = [BUILDERS[kind](job, n + 1) for n, kind in enumerate(kinds)]
    locate = partial(find_tenant_of_configuration, app_container.engine)
    for i in order:
        call = WebhookCall(*seeded.credentials, json.dumps(bodies[i]).encode())
        await ingest_webhook_event(app_container.ctx, call, locate=locate, parse=parse_event)
    async with app_container.ctx.uow("tenant-a") as uow:
        stored, total = await uow.events.list(job_e_id=job.e_id)
        status = (await uow.jobs.get(job.e_id)).status
    assert total == len(kinds)
    assert sorted(e.record_type for e in stored) == sorted(b["RecordType"] for b in bodies)
    assert status is expected_status(kinds, order)
