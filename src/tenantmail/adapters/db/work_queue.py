"""Background work claimed from the tables themselves, with leases (the ``jobs`` facility).

The job table is the transactional outbox: a job committed as QUEUED is the work item, so nothing
can be queued without its job or the reverse. Workers claim rows with a lease (``lease_owner``,
``lease_until``); a worker that dies leaves its lease to expire and the row is claimed again —
that is the crash reclaim. On PostgreSQL claims use ``FOR UPDATE SKIP LOCKED`` so any number of
workers on any number of machines share the work; on SQLite every transaction holds the write
lock (see ``engine.py``), which serialises claims within the single embedded process.

Periodic work (drift scans, sweeps) is run once per cluster per tick through :meth:`claim_tick`:
a compare-and-set on the tick's ``due_at`` that exactly one worker wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.adapters.db.tables import CLAIMABLE, configurations, jobs, ticks
from tenantmail.domain.job import JobStatus
from tenantmail.services.ports.work import ClaimedConfiguration, ClaimedJob


class DatabaseWorkQueue:
    def __init__(self, engine: AsyncEngine, *, owner: str, lease_seconds: float):
        self._engine = engine
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)
        self._skip_locked = engine.dialect.name == "postgresql"

    # --- email jobs -----------------------------------------------------------------------
    async def claim_jobs(
        self, now: datetime, limit: int, *, exclude_configurations: Sequence[str] = ()
    ) -> list[ClaimedJob]:
        """Claim due QUEUED jobs and SENDING jobs whose lease expired; mark them SENDING."""
        due = or_(
            and_(jobs.c.status == JobStatus.QUEUED.value, jobs.c.next_attempt_at <= now),
            and_(jobs.c.status == JobStatus.SENDING.value, jobs.c.lease_until < now),
        )
        # the partial dispatch index's own predicate, named so SQLite uses that index too
        claimable = jobs.c.status.in_(CLAIMABLE)
        stmt = select(jobs.c.e_id, jobs.c.tenant_id, jobs.c.configuration_e_id, jobs.c.status).where(claimable, due)
        if exclude_configurations:
            stmt = stmt.where(jobs.c.configuration_e_id.not_in(exclude_configurations))
        stmt = stmt.order_by(jobs.c.next_attempt_at).limit(limit)
        if self._skip_locked:
            stmt = stmt.with_for_update(skip_locked=True)
        async with self._engine.begin() as conn:
            rows = (await conn.execute(stmt)).all()
            if not rows:
                return []
            await conn.execute(
                update(jobs).where(jobs.c.e_id.in_([r.e_id for r in rows]))
                .values(status=JobStatus.SENDING.value, lease_owner=self.owner, lease_until=now + self.lease)
            )
        return [
            ClaimedJob(r.tenant_id, r.e_id, r.configuration_e_id, r.status == JobStatus.SENDING.value)
            for r in rows
        ]

    # --- configurations (provisioning, verification polling) ------------------------------
    async def claim_configurations(
        self, statuses: Sequence[str], now: datetime, limit: int
    ) -> list[ClaimedConfiguration]:
        """Claim configurations in ``statuses`` that are due and not leased by a live worker."""
        c = configurations.c
        stmt = (
            select(c.e_id, c.tenant_id, c.operational_status)
            .where(c.operational_status.in_(list(statuses)))
            .where(or_(c.next_check_at.is_(None), c.next_check_at <= now))
            .where(or_(c.lease_until.is_(None), c.lease_until < now))
            .order_by(c.next_check_at).limit(limit)
        )
        if self._skip_locked:
            stmt = stmt.with_for_update(skip_locked=True)
        async with self._engine.begin() as conn:
            rows = (await conn.execute(stmt)).all()
            if rows:
                await conn.execute(
                    update(configurations).where(c.e_id.in_([r.e_id for r in rows]))
                    .values(lease_owner=self.owner, lease_until=now + self.lease)
                )
        return [ClaimedConfiguration(r.tenant_id, r.e_id, r.operational_status) for r in rows]

    async def release_configuration(self, e_id: str, *, next_check_at: datetime | None) -> None:
        """Give the lease back and say when the row is next due (None: whenever claimed)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(configurations)
                .where(configurations.c.e_id == e_id, configurations.c.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None, next_check_at=next_check_at)
            )

    # --- cluster-wide periodic ticks ------------------------------------------------------
    async def claim_tick(self, name: str, interval: timedelta, now: datetime) -> bool:
        """True for exactly one caller per ``interval`` across every process sharing the database."""
        async with self._engine.begin() as conn:
            row = (await conn.execute(select(ticks.c.due_at).where(ticks.c.name == name))).first()
            if row is None:
                try:
                    async with conn.begin_nested():
                        await conn.execute(insert(ticks).values(
                            name=name, due_at=now + interval, owner=self.owner, last_run_at=now, run_count=1,
                        ))
                    return True
                except IntegrityError:
                    return False
            if row.due_at > now:
                return False
            won = await conn.execute(
                update(ticks).where(ticks.c.name == name, ticks.c.due_at == row.due_at)
                .values(due_at=now + interval, owner=self.owner, last_run_at=now, run_count=ticks.c.run_count + 1)
            )
            return won.rowcount == 1

    async def next_tick_due(self, name: str) -> datetime | None:
        async with self._engine.connect() as conn:
            return (await conn.execute(select(ticks.c.due_at).where(ticks.c.name == name))).scalar()
