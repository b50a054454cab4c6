"""The console's partition-wide reads (adapters/db/repositories/operator_activity.py), both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.adapters.db.repositories.operator_activity import ActivitySearch, OperatorActivity
from tenantmail.adapters.db.unit_of_work import UnitOfWork
from tenantmail.domain.configuration import EmailConfiguration, Signature
from tenantmail.domain.delivery_figures import DeliveryFigures
from tenantmail.domain.job import EmailJob, JobStatus

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


async def add_job(engine: AsyncEngine, tenant: str, status: JobStatus, *, age: timedelta = timedelta(hours=1),
                  recipient: str = "buyer@example.com", subject: str = "Your order", message_id: str | None = None,
                  tag: str | None = None) -> EmailJob:
    job = EmailJob.queue(tenant_id=tenant, configuration_e_id=str(uuid.uuid4()), recipient=recipient,
                         subject=subject, idempotency_key=uuid.uuid4().hex, now=NOW - age, text_body="hi")
    job.move(status, NOW - age)
    job.message_id = message_id
    job.tag = tag
    async with UnitOfWork(engine, tenant) as uow:
        await uow.jobs.add(job)
        await uow.commit()
    return job


async def test_tenants_carry_their_configuration_states_and_24h_and_7d_figures(engine: AsyncEngine) -> None:
    async with UnitOfWork(engine, "beta") as uow:
        config = EmailConfiguration.create(tenant_id="beta", slug="beta", mail_zone_name="dev.example.com",
                                           signature=Signature("noreply", "Beta"), now=NOW)
        await uow.configurations.add(config, author="t", cause="create")
        await uow.commit()
    for status in (JobStatus.DELIVERED, JobStatus.DELIVERED, JobStatus.BOUNCED, JobStatus.COMPLAINED,
                   JobStatus.QUEUED, JobStatus.FAILED):
        await add_job(engine, "alpha", status)
    await add_job(engine, "alpha", JobStatus.BOUNCED, age=timedelta(days=3))
    await add_job(engine, "alpha", JobStatus.DELIVERED, age=timedelta(days=8))  # outside both windows

    alpha, beta = await OperatorActivity(engine).tenants(NOW)

    assert alpha.tenant_id == "alpha" and alpha.configurations == {}
    assert alpha.day == DeliveryFigures(sent=4, delivered=2, bounced=1, complained=1)
    assert alpha.week == DeliveryFigures(sent=5, delivered=2, bounced=2, complained=1)
    assert alpha.day.bounce_rate == 0.25 and alpha.week.complaint_rate == 0.2
    assert beta.configurations == {("PENDING", "LOCKED"): 1}
    assert beta.day == DeliveryFigures() and beta.day.bounce_rate is None


async def test_the_feed_searches_every_tenant_newest_first(engine: AsyncEngine) -> None:
    old = await add_job(engine, "alpha", JobStatus.SENT, age=timedelta(days=2), subject="Invoice 7",
                        message_id="mid-old")
    new = await add_job(engine, "beta", JobStatus.BOUNCED, subject="INVOICE 8 100%_off", recipient="ap@shop.example",
                        tag="billing")
    await add_job(engine, "beta", JobStatus.DELIVERED, subject="Welcome")
    feed = OperatorActivity(engine)

    async def ids(**query: object) -> list[str]:
        found, total = await feed.search(ActivitySearch(**query), limit=50, offset=0)  # type: ignore[arg-type]
        assert total == len(found)
        return [j.e_id for j in found]

    assert len(await ids()) == 3
    assert await ids(subject="invoice") == [new.e_id, old.e_id]
    assert await ids(subject="100%_") == [new.e_id]  # LIKE wildcards are matched literally
    assert await ids(subject="0%x") == []
    assert await ids(recipient="AP@") == [new.e_id]
    assert await ids(message_id="mid-old") == [old.e_id]
    assert await ids(tag="billing") == [new.e_id]
    assert await ids(tag="bill") == []  # a tag is matched exactly
    assert await ids(status="BOUNCED", tenant="beta") == [new.e_id]
    assert await ids(tenant="alpha", subject="welcome") == []
    assert await ids(created_from=NOW - timedelta(days=1), subject="invoice") == [new.e_id]
    assert await ids(created_to=NOW - timedelta(days=1)) == [old.e_id]
    page, total = await feed.search(ActivitySearch(), limit=1, offset=1)
    assert total == 3 and len(page) == 1
