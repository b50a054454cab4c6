"""The leased work queue: claims are exclusive, expired leases are reclaimed, ticks fire once per cluster."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.adapters.db.tables import configurations, jobs
from tenantmail.adapters.db.unit_of_work import UnitOfWork
from tenantmail.adapters.db.work_queue import DatabaseWorkQueue
from tenantmail.domain.configuration import EmailConfiguration, Operational, Signature
from tenantmail.domain.job import EmailJob, JobStatus

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def _queue_jobs(engine: AsyncEngine, count: int, tenant: str = "tenant-a") -> list[str]:
    async with UnitOfWork(engine, tenant) as uow:
        queued = [
            EmailJob.queue(
                tenant_id=tenant, configuration_e_id="cfg-1", recipient=f"r{i}@example.com",
                subject="s", idempotency_key=f"k{i}", now=NOW - timedelta(seconds=count - i), text_body="b",
            )
            for i in range(count)
        ]
        for job in queued:
            await uow.jobs.add(job)
        await uow.commit()
    return [job.e_id for job in queued]


async def _statuses(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        return {r.e_id: r.status for r in await conn.execute(select(jobs.c.e_id, jobs.c.status))}


async def test_concurrent_claims_never_hand_out_a_job_twice(engine: AsyncEngine) -> None:
    ids = await _queue_jobs(engine, 60)
    queues = [DatabaseWorkQueue(engine, owner=f"w{i}", lease_seconds=60) for i in range(4)]

    async def drain(queue: DatabaseWorkQueue) -> list[str]:
        got: list[str] = []
        while batch := (await queue.claim_jobs(NOW, 7)).jobs:
            got.extend(job.e_id for job in batch)
        return got

    claimed = await asyncio.gather(*(drain(q) for q in queues))
    flat = [e_id for batch in claimed for e_id in batch]
    assert sorted(flat) == sorted(ids)  # every job once, none twice
    assert set((await _statuses(engine)).values()) == {JobStatus.SENDING.value}


async def test_jobs_not_yet_due_are_left_alone(engine: AsyncEngine) -> None:
    [e_id] = await _queue_jobs(engine, 1)
    async with engine.begin() as conn:
        await conn.execute(update(jobs).values(next_attempt_at=NOW + timedelta(minutes=5)))
    queue = DatabaseWorkQueue(engine, owner="w", lease_seconds=60)
    assert (await queue.claim_jobs(NOW, 10)).jobs == []
    [claimed] = (await queue.claim_jobs(NOW + timedelta(minutes=5), 10)).jobs
    assert claimed.e_id == e_id and not claimed.reclaimed


async def test_an_expired_lease_is_reclaimed_and_flagged_ambiguous(engine: AsyncEngine) -> None:
    [e_id] = await _queue_jobs(engine, 1)
    dead = DatabaseWorkQueue(engine, owner="dead-worker", lease_seconds=30)
    assert [j.e_id for j in (await dead.claim_jobs(NOW, 10)).jobs] == [e_id]

    alive = DatabaseWorkQueue(engine, owner="alive", lease_seconds=30)
    assert (await alive.claim_jobs(NOW + timedelta(seconds=29), 10)).jobs == []  # lease still held
    [again] = (await alive.claim_jobs(NOW + timedelta(seconds=31), 10)).jobs
    assert again.e_id == e_id and again.reclaimed
    async with engine.connect() as conn:
        owner = (await conn.execute(select(jobs.c.lease_owner).where(jobs.c.e_id == e_id))).scalar()
    assert owner == "alive"


async def test_configuration_claims_respect_leases_and_due_times(engine: AsyncEngine) -> None:
    async with UnitOfWork(engine, "tenant-a") as uow:
        config = EmailConfiguration.create(
            tenant_id="tenant-a", slug="acme", mail_zone_name="dev.ardamails.com",
            signature=Signature(from_name="Acme"), now=NOW,
        )
        config.operational = Operational.PROVISIONING
        await uow.configurations.add(config, author="t", cause="create")
        await uow.commit()

    first, second = (DatabaseWorkQueue(engine, owner=o, lease_seconds=60) for o in ("a", "b"))
    [claim] = await first.claim_configurations(["PROVISIONING"], NOW, 10)
    assert claim.e_id == config.e_id
    assert await second.claim_configurations(["PROVISIONING"], NOW, 10) == []

    await first.release_configuration(config.e_id, next_check_at=NOW + timedelta(seconds=30))
    assert await second.claim_configurations(["PROVISIONING"], NOW + timedelta(seconds=10), 10) == []
    assert len(await second.claim_configurations(["PROVISIONING"], NOW + timedelta(seconds=30), 10)) == 1
    async with engine.connect() as conn:
        owner = (await conn.execute(select(configurations.c.lease_owner))).scalar()
    assert owner == "b"


async def test_a_tick_fires_once_per_interval_across_workers(engine: AsyncEngine) -> None:
    queues = [DatabaseWorkQueue(engine, owner=f"w{i}", lease_seconds=60) for i in range(5)]
    interval = timedelta(minutes=15)

    async def round_at(moment: datetime) -> int:
        results = await asyncio.gather(*(q.claim_tick("drift", interval, moment) for q in queues))
        return sum(results)

    assert await round_at(NOW) == 1  # first ever: exactly one wins the insert
    assert await round_at(NOW + timedelta(minutes=14)) == 0
    assert await round_at(NOW + timedelta(minutes=15)) == 1
    assert await round_at(NOW + timedelta(minutes=16)) == 0
    assert await queues[0].next_tick_due("drift") == NOW + timedelta(minutes=30)


async def test_releasing_parked_jobs_touches_only_that_configurations_queued_jobs_of_that_tenant(
    engine: AsyncEngine,
) -> None:
    mine = await _queue_jobs(engine, 3)
    theirs = await _queue_jobs(engine, 2, tenant="tenant-b")  # same configuration eId, other tenant
    later = NOW + timedelta(minutes=15)
    async with engine.begin() as conn:
        await conn.execute(update(jobs).values(next_attempt_at=later))
        await conn.execute(update(jobs).where(jobs.c.e_id == mine[2]).values(status=JobStatus.SENT.value))

    async with UnitOfWork(engine, "tenant-a") as uow:
        assert await uow.jobs.release_parked("cfg-1", NOW) == 2
        await uow.commit()

    queue = DatabaseWorkQueue(engine, owner="w", lease_seconds=60)
    claimed = {job.e_id for job in (await queue.claim_jobs(NOW, 10)).jobs}
    assert claimed == {mine[0], mine[1]}  # due now; the SENT job and the other tenant's jobs are not
    assert not claimed & set(theirs)
    assert set(theirs) <= {job.e_id for job in (await queue.claim_jobs(later, 10)).jobs}  # still parked until then


async def _queue_for(engine: AsyncEngine, configuration: str, count: int, *, oldest: datetime) -> list[str]:
    async with UnitOfWork(engine, "tenant-a") as uow:
        queued = [
            EmailJob.queue(
                tenant_id="tenant-a", configuration_e_id=configuration, recipient=f"r{i}@example.com",
                subject="s", idempotency_key=f"{configuration}-{i}", now=oldest + timedelta(milliseconds=i),
                text_body="b",
            )
            for i in range(count)
        ]
        for job in queued:
            await uow.jobs.add(job)
        await uow.commit()
    return [job.e_id for job in queued]


async def test_fair_claims_share_a_pass_across_configurations(engine: AsyncEngine) -> None:
    """A deep backlog of one configuration takes its share of a pass, no more: the lone job of
    another configuration, queued after the whole backlog, goes in the very next claim."""
    backlog = await _queue_for(engine, "cfg-a", 200, oldest=NOW - timedelta(minutes=10))
    [lone] = await _queue_for(engine, "cfg-b", 1, oldest=NOW - timedelta(seconds=1))
    queue = DatabaseWorkQueue(engine, owner="w", lease_seconds=60)

    claim = await queue.claim_jobs(NOW, 10, fair=True)
    first = claim.jobs
    assert not claim.exhausted  # A gave its whole share: more of it is due
    assert lone in {job.e_id for job in first}
    assert len(first) <= 10
    a_claimed = [job.e_id for job in first if job.configuration_e_id == "cfg-a"]
    assert a_claimed == backlog[: len(a_claimed)] and a_claimed  # A's oldest, in its share

    assert {j.configuration_e_id for j in (await queue.claim_jobs(NOW, 10, fair=True, exclude_configurations=["cfg-a"])).jobs
            } == set()  # B's lone job is taken; A, excluded, gives nothing
    oldest_first = DatabaseWorkQueue(engine, owner="w2", lease_seconds=60)
    await _queue_for(engine, "cfg-c", 1, oldest=NOW - timedelta(seconds=1))
    unfair = (await oldest_first.claim_jobs(NOW, 10)).jobs  # the setting off: A's backlog first
    assert {job.configuration_e_id for job in unfair} == {"cfg-a"}


async def test_a_claim_returns_the_jobs_as_claimed_and_their_configurations(engine: AsyncEngine) -> None:
    """The pass sends from what the claim returns, without reading again: each job's whole row as the
    claim left it (SENDING), and its configuration — the tenant's own.
    A job whose configuration is gone comes back without one (the pass parks it)."""
    async with UnitOfWork(engine, "tenant-a") as uow:
        config = EmailConfiguration.create(
            tenant_id="tenant-a", slug="acme", mail_zone_name="dev.ardamails.com",
            signature=Signature(from_name="Acme"), now=NOW,
        )
        await uow.configurations.add(config, author="t", cause="create")
        await uow.commit()
    mine = await _queue_for(engine, config.e_id, 2, oldest=NOW - timedelta(minutes=1))
    orphan = await _queue_for(engine, "cfg-gone", 1, oldest=NOW - timedelta(minutes=1))
    async with UnitOfWork(engine, "tenant-b") as uow:  # the same configuration eId under another tenant
        await uow.jobs.add(EmailJob.queue(tenant_id="tenant-b", configuration_e_id=config.e_id,
                                          recipient="x@example.com", subject="theirs", idempotency_key="b",
                                          now=NOW - timedelta(minutes=1), text_body="b"))
        await uow.commit()

    for fair in (True, False):
        queue = DatabaseWorkQueue(engine, owner=f"w-{fair}", lease_seconds=60)
        claim = await queue.claim_jobs(NOW, 10, fair=fair)
        by_id = {c.e_id: c for c in claim.jobs}
        assert set(mine + orphan) <= set(by_id) and len(by_id) == 4
        for e_id in mine:
            job = by_id[e_id].job
            assert (job.status, job.subject, job.text_body, job.tenant_id) == (JobStatus.SENDING, "s", "b", "tenant-a")
        assert list(claim.configurations) == [config.e_id]
        assert claim.configurations[config.e_id].tenant_id == "tenant-a"
        assert claim.configurations[config.e_id].signature.from_name == "Acme"
        assert claim.configuration("tenant-a", config.e_id) == claim.configurations[config.e_id]
        assert claim.configuration("tenant-b", config.e_id) is None  # never another tenant's
        assert "cfg-gone" not in claim.configurations
        async with engine.begin() as conn:  # put them back for the other kind of claim
            await conn.execute(update(jobs).values(status=JobStatus.QUEUED.value, lease_owner=None, lease_until=None))


async def test_a_claim_says_whether_it_took_all_that_was_due(engine: AsyncEngine) -> None:
    """``exhausted`` lets the worker wait for a wake-up instead of claiming again at once: true only
    when a claim stopped short of its limit and of every configuration's share."""
    await _queue_for(engine, "cfg-a", 5, oldest=NOW - timedelta(minutes=1))
    await _queue_for(engine, "cfg-b", 1, oldest=NOW - timedelta(minutes=1))
    fair = DatabaseWorkQueue(engine, owner="w", lease_seconds=60)
    first = await fair.claim_jobs(NOW, 4, fair=True)  # A gives its share (PostgreSQL) or the limit is reached
    assert 0 < len(first.jobs) <= 4 and not first.exhausted
    claims = [first]
    while not claims[-1].exhausted:
        claims.append(await fair.claim_jobs(NOW, 4, fair=True))
        assert len(claims) < 10
    assert sum(len(c.jobs) for c in claims) == 6  # it said exhausted only once all six were claimed
    nothing = await fair.claim_jobs(NOW, 4, fair=True)
    assert nothing.jobs == [] and nothing.exhausted

    await _queue_for(engine, "cfg-c", 3, oldest=NOW - timedelta(minutes=1))
    oldest_first = DatabaseWorkQueue(engine, owner="w2", lease_seconds=60)
    at_limit = await oldest_first.claim_jobs(NOW, 2)
    assert len(at_limit.jobs) == 2 and not at_limit.exhausted
    short = await oldest_first.claim_jobs(NOW, 2)
    assert len(short.jobs) == 1 and short.exhausted


async def test_fair_claims_go_round_every_configuration(engine: AsyncEngine) -> None:
    """More configurations with due jobs than a claim takes: successive claims go round them all
    (each claim one job per configuration) instead of serving the first ones again."""
    configurations = [f"cfg-{i:02d}" for i in range(12)]
    for name in configurations:
        await _queue_for(engine, name, 3, oldest=NOW - timedelta(minutes=1))
    queue = DatabaseWorkQueue(engine, owner="w", lease_seconds=60)

    served: list[str] = []
    for _ in range(3):
        claim = await queue.claim_jobs(NOW, 4, fair=True)
        batch = claim.jobs
        assert not claim.exhausted  # more configurations than the claim took
        assert len(batch) == 4 and len({job.configuration_e_id for job in batch}) == 4
        served += [job.configuration_e_id for job in batch]
    assert sorted(served) == configurations  # 3 claims × 4: each configuration once
