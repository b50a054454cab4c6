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
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tenantmail.adapters.db.tables import CLAIMABLE, configurations, jobs, ticks
from tenantmail.domain.job import JobStatus
from tenantmail.services.ports.work import ClaimedConfiguration, ClaimedJob


CLAIM_COLUMNS = (jobs.c.e_id, jobs.c.tenant_id, jobs.c.configuration_e_id, jobs.c.status)
#: the partial dispatch indexes' own predicate, named so SQLite uses those indexes too
CLAIMABLE_NOW = jobs.c.status.in_(CLAIMABLE)
_CLAIMABLE_SQL = ", ".join(f"'{status}'" for status in CLAIMABLE)

#: the configurations that have claimable jobs, in e_id order after ``after`` (a loose index scan)
DISTINCT_CONFIGURATIONS = text(f"""
WITH RECURSIVE found(id) AS (
  (SELECT configuration_e_id FROM {jobs.name} WHERE status IN ({_CLAIMABLE_SQL}) AND configuration_e_id > :after
   ORDER BY configuration_e_id LIMIT 1)
  UNION ALL
  SELECT (SELECT j.configuration_e_id FROM {jobs.name} j WHERE j.status IN ({_CLAIMABLE_SQL})
          AND j.configuration_e_id > found.id ORDER BY j.configuration_e_id LIMIT 1)
  FROM found WHERE found.id IS NOT NULL
)
SELECT id FROM found WHERE id IS NOT NULL LIMIT :most""")

#: up to ``share`` of each configuration's oldest due jobs, locked, skipping rows other workers hold
FAIR_SLICES = text(f"""
SELECT j.e_id, j.tenant_id, j.configuration_e_id, j.status
FROM unnest(CAST(:configs AS text[])) AS c(id)
CROSS JOIN LATERAL (
  SELECT e_id, tenant_id, configuration_e_id, status FROM {jobs.name}
  WHERE configuration_e_id = c.id AND status IN ({_CLAIMABLE_SQL})
    AND ((status = :queued AND next_attempt_at <= :now) OR (status = :sending AND lease_until < :now))
  ORDER BY next_attempt_at LIMIT :share FOR UPDATE SKIP LOCKED
) j""")


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(jobs.c.status == JobStatus.QUEUED.value, jobs.c.next_attempt_at <= now),
        and_(jobs.c.status == JobStatus.SENDING.value, jobs.c.lease_until < now),
    )


def _not_in(excluded: frozenset[str]) -> list[ColumnElement[bool]]:
    return [jobs.c.configuration_e_id.not_in(sorted(excluded))] if excluded else []


def _ranked(now: datetime, limit: int, excluded: frozenset[str]) -> Select[Any]:
    """SQLite (one writer, small queues): round-robin by a window ranking each configuration's due
    jobs — its 1st, then every configuration's 2nd, and so on."""
    turn = func.row_number().over(partition_by=jobs.c.configuration_e_id, order_by=jobs.c.next_attempt_at)
    ranked = (select(*CLAIM_COLUMNS, jobs.c.next_attempt_at, turn.label("turn"))
              .where(CLAIMABLE_NOW, _due(now), *_not_in(excluded)).subquery())
    return (select(ranked.c.e_id, ranked.c.tenant_id, ranked.c.configuration_e_id, ranked.c.status)
            .order_by(ranked.c.turn, ranked.c.next_attempt_at).limit(limit))


class DatabaseWorkQueue:
    def __init__(self, engine: AsyncEngine, *, owner: str, lease_seconds: float):
        self._engine = engine
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)
        self._skip_locked = engine.dialect.name == "postgresql"
        self._fair_cursor = ""  #: the configuration served last when a pass could not reach them all

    # --- email jobs -----------------------------------------------------------------------
    async def claim_jobs(
        self, now: datetime, limit: int, *, fair: bool = False, exclude_configurations: Sequence[str] = (),
    ) -> list[ClaimedJob]:
        """Claim due QUEUED jobs and SENDING jobs whose lease expired; mark them SENDING. Jobs of
        ``exclude_configurations`` are left for later (the caller's passes hold enough of them).

        ``fair`` False: the oldest due first. True: round-robin across configurations (SPEC §16) —
        up to ``limit`` jobs shared out evenly among the configurations that have due jobs, so a
        configuration's backlog takes its share of a pass and another configuration's lone job goes
        in the same pass (see :meth:`_fair_rows`)."""
        async with self._engine.begin() as conn:
            excluded = frozenset(exclude_configurations)
            if not fair:
                rows = (await conn.execute(self._oldest_first(now, limit, excluded))).all()
            elif self._skip_locked:
                rows = await self._fair_rows(conn, now, limit, excluded)
            else:
                rows = (await conn.execute(_ranked(now, limit, excluded))).all()
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

    def _oldest_first(self, now: datetime, limit: int, excluded: frozenset[str]) -> Select[Any]:
        stmt = select(*CLAIM_COLUMNS).where(CLAIMABLE_NOW, _due(now), *_not_in(excluded))
        stmt = stmt.order_by(jobs.c.next_attempt_at).limit(limit)
        return stmt.with_for_update(skip_locked=True) if self._skip_locked else stmt

    async def _fair_rows(
        self, conn: AsyncConnection, now: datetime, limit: int, excluded: frozenset[str],
    ) -> Sequence[Row[Any]]:
        """PostgreSQL: per-configuration claim slices. The configurations with claimable jobs are
        found by a loose index scan (one index probe per configuration over ``ix_email_jobs_fair``,
        whatever the backlog), from just after the one this worker served last, wrapping round; each
        of the first ``limit`` of them then gives up to ``limit // n`` of its oldest due jobs, in one
        ``LATERAL`` statement with ``FOR UPDATE SKIP LOCKED``. Cost: O(configurations + limit), not
        O(backlog) as a window ranking every due job would be."""
        most = limit + len(excluded)
        found = [c for c in (await conn.execute(DISTINCT_CONFIGURATIONS, {"after": self._fair_cursor, "most": most}))
                 .scalars() if c not in excluded][:limit]
        if len(found) < limit and self._fair_cursor:  # wrap round to the start
            again = (await conn.execute(DISTINCT_CONFIGURATIONS, {"after": "", "most": most})).scalars()
            found += [c for c in again if c <= self._fair_cursor and c not in excluded][: limit - len(found)]
        if not found:
            return []
        self._fair_cursor = found[-1] if len(found) >= limit else ""
        share = max(1, limit // len(found))  # never more than ``limit`` in all
        return (await conn.execute(FAIR_SLICES, {"configs": found, "share": share, "now": now,
                                                 "queued": JobStatus.QUEUED.value,
                                                 "sending": JobStatus.SENDING.value})).all()

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
