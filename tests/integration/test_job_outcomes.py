"""Dispatch outcomes never overwrite a status a delivery event already moved the job to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.adapters.db.unit_of_work import UnitOfWork
from tenantmail.adapters.db.work_queue import DatabaseWorkQueue
from tenantmail.domain.job import EmailJob, JobError, JobStatus, project

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def _claimed_job(engine: AsyncEngine) -> EmailJob:
    job = EmailJob.queue(
        tenant_id="tenant-a", configuration_e_id="cfg", recipient="r@example.com", subject="s",
        idempotency_key="k", now=NOW, text_body="b", author="t",
    )
    async with UnitOfWork(engine, "tenant-a") as uow:
        await uow.jobs.add(job)
        await uow.commit()
    [claim] = (await DatabaseWorkQueue(engine, owner="w", lease_seconds=60).claim_jobs(NOW, 1)).jobs
    async with UnitOfWork(engine, "tenant-a") as uow:
        return await uow.jobs.get(claim.e_id)


async def _project_event(engine: AsyncEngine, e_id: str, implied: JobStatus) -> None:
    """What webhook ingestion does when an event arrives before the dispatcher's commit."""
    async with UnitOfWork(engine, "tenant-a") as uow:
        stored = await uow.jobs.get(e_id)
        stored.move(project(stored.status, implied), NOW)
        await uow.jobs.save(stored)
        await uow.commit()


async def test_a_delivery_projected_while_sending_survives_the_sent_outcome(engine: AsyncEngine) -> None:
    job = await _claimed_job(engine)
    await _project_event(engine, job.e_id, JobStatus.DELIVERED)

    job.mark_sent("pm-message-1", NOW + timedelta(seconds=1))  # the dispatcher's view, now stale
    async with UnitOfWork(engine, "tenant-a") as uow:
        await uow.jobs.save_outcomes([job])
        await uow.commit()
        stored = await uow.jobs.get(job.e_id)
    assert stored.status is JobStatus.DELIVERED
    assert stored.message_id == "pm-message-1"


async def test_a_requeue_never_pulls_a_projected_job_back_into_the_outbox(engine: AsyncEngine) -> None:
    job = await _claimed_job(engine)
    await _project_event(engine, job.e_id, JobStatus.BOUNCED)

    job.requeue(JobError("ambiguous", "timeout", "read timeout"), NOW + timedelta(seconds=5), NOW)
    async with UnitOfWork(engine, "tenant-a") as uow:
        await uow.jobs.save_outcomes([job])
        await uow.commit()
        stored = await uow.jobs.get(job.e_id)
    assert stored.status is JobStatus.BOUNCED and stored.last_error is None


async def test_a_job_still_sending_takes_the_outcome(engine: AsyncEngine) -> None:
    job = await _claimed_job(engine)
    job.mark_sent("pm-message-2", NOW)
    async with UnitOfWork(engine, "tenant-a") as uow:
        await uow.jobs.save_outcomes([job])
        await uow.commit()
        stored = await uow.jobs.get(job.e_id)
    assert (stored.status, stored.message_id) == (JobStatus.SENT, "pm-message-2")
