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

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.adapters.db.intake.dialects import POSTGRESQL
from tenantmail.adapters.db.repositories import configurations as configuration_rows
from tenantmail.adapters.db.repositories import jobs as job_rows
from tenantmail.adapters.db.tables import CLAIMABLE, configurations, jobs, ticks
from tenantmail.domain.job import JobStatus
from tenantmail.services.ports.work import ClaimedConfiguration, ClaimedJob, JobClaim


CLAIM_COLUMNS = (jobs.c.e_id, jobs.c.tenant_id, jobs.c.configuration_e_id, jobs.c.status)
#: the partial dispatch indexes' own predicate, named so SQLite uses those indexes too
CLAIMABLE_NOW = jobs.c.status.in_(CLAIMABLE)
_CLAIMABLE_SQL = ", ".join(f"'{status}'" for status in CLAIMABLE)
_JOB_PREFIX, _CONFIGURATION_PREFIX = "j_", "c_"


def _claimable(alias: str) -> str:
    return f"{alias}.status IN ({_CLAIMABLE_SQL})"


def _configurations_from(bound: str, *, start: str, stop: str = "") -> str:
    """A loose index scan: the configurations with claimable jobs, in e_id order, after ``start``
    (and up to ``stop``): one probe of ``ix_email_jobs_fair`` each, pulled only as far as used."""
    up_to = f" AND j.configuration_e_id <= {stop}" if stop else ""
    return f"""{bound}(id) AS (
  (SELECT j.configuration_e_id FROM {jobs.name} j WHERE {_claimable("j")} AND j.configuration_e_id > {start}{up_to}
   ORDER BY j.configuration_e_id LIMIT 1)
  UNION ALL
  SELECT (SELECT j.configuration_e_id FROM {jobs.name} j WHERE {_claimable("j")}
          AND j.configuration_e_id > found.id{up_to} ORDER BY j.configuration_e_id LIMIT 1)
  FROM {bound} found WHERE found.id IS NOT NULL
)"""


_DUE_SQL = ("((j.status = %(queued)s AND j.next_attempt_at <= %(now)s)"
            " OR (j.status = %(sending)s AND j.lease_until < %(now)s))")

#: Fair (SPEC §16): up to ``limit`` configurations with claimable jobs, from just after the one
#: served last (``after``) round to it again, none of ``excluded``; each gives up to
#: ``limit // n`` of its oldest due jobs, locked, skipping rows other workers hold.
_FAIR_PICK = f"""{_configurations_from("after_cursor", start="%(after)s")},
{_configurations_from("before_cursor", start="''", stop="%(after)s")},
found AS MATERIALIZED (
  SELECT id, lap FROM (
    SELECT id, 0 AS lap FROM (SELECT id FROM after_cursor
      WHERE id IS NOT NULL AND id <> ALL(%(excluded)s::text[]) LIMIT %(limit)s) a
    UNION ALL
    SELECT id, 1 FROM (SELECT id FROM before_cursor
      WHERE id IS NOT NULL AND id <> ALL(%(excluded)s::text[]) LIMIT %(limit)s) b
  ) c ORDER BY lap, id LIMIT %(limit)s
),
share AS (
  SELECT count(*) AS configurations, GREATEST(1, %(limit)s / GREATEST(count(*), 1)) AS n,
         (SELECT id FROM found ORDER BY lap DESC, id DESC LIMIT 1) AS last
  FROM found
),
picked AS MATERIALIZED (
  SELECT s.e_id, s.status FROM found CROSS JOIN share CROSS JOIN LATERAL (
    SELECT j.e_id, j.status, j.next_attempt_at FROM {jobs.name} j
    WHERE j.configuration_e_id = found.id AND {_claimable("j")} AND {_DUE_SQL}
    ORDER BY j.next_attempt_at LIMIT share.n FOR UPDATE SKIP LOCKED
  ) s
)"""

#: Oldest first (``TENANTMAIL_DISPATCH_FAIR`` off): the ``limit`` oldest due jobs.
_OLDEST_PICK = f"""share AS (SELECT NULL::bigint AS configurations, %(limit)s AS n, NULL::text AS last),
picked AS MATERIALIZED (
  SELECT j.e_id, j.status FROM {jobs.name} j
  WHERE {_claimable("j")} AND {_DUE_SQL} AND j.configuration_e_id <> ALL(%(excluded)s::text[])
  ORDER BY j.next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
)"""


def _claim_statement(pick: str) -> str:
    """PostgreSQL's claim as one statement, run on its own (autocommit: one round trip, its commit
    included): the picked jobs become SENDING under this worker's lease and come back whole, each
    configuration's row with its first job, and the share, the configurations seen and the last
    of them in a row of their own when nothing was picked. The UPDATE finds its rows by primary
    key (``= ANY(ARRAY(…))``), never by a join the planner could turn into a scan."""
    return f"""WITH RECURSIVE {pick},
claimed AS (
  UPDATE {jobs.name} SET status = %(sending)s, lease_owner = %(owner)s, lease_until = %(until)s
  WHERE e_id = ANY(ARRAY(SELECT e_id FROM picked))
  RETURNING {jobs.name}.*
),
numbered AS (
  SELECT claimed.*, picked.status AS was,
         row_number() OVER (PARTITION BY claimed.tenant_id, claimed.configuration_e_id
                            ORDER BY claimed.next_attempt_at) AS nth
  FROM claimed JOIN picked ON picked.e_id = claimed.e_id
)
SELECT share.configurations AS claim_configurations, share.n AS claim_share, share.last AS claim_last,
       numbered.was AS claim_was, {POSTGRESQL.selected(jobs, "numbered", _JOB_PREFIX)},
       {POSTGRESQL.selected(configurations, "c", _CONFIGURATION_PREFIX)}
FROM share
LEFT JOIN numbered ON true
LEFT JOIN {configurations.name} c
  ON numbered.nth = 1 AND c.e_id = numbered.configuration_e_id AND c.tenant_id = numbered.tenant_id
ORDER BY numbered.configuration_e_id, numbered.next_attempt_at"""


FAIR_CLAIM, OLDEST_FIRST_CLAIM = _claim_statement(_FAIR_PICK), _claim_statement(_OLDEST_PICK)
_JOB_ROWS = POSTGRESQL.codec(jobs, _JOB_PREFIX)
_CONFIGURATION_ROWS = POSTGRESQL.codec(configurations, _CONFIGURATION_PREFIX)


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
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)
        self._skip_locked = engine.dialect.name == "postgresql"
        self._fair_cursor = ""  #: the configuration served last when a pass could not reach them all

    # --- email jobs -----------------------------------------------------------------------
    async def claim_jobs(
        self, now: datetime, limit: int, *, fair: bool = False, exclude_configurations: Sequence[str] = (),
    ) -> JobClaim:
        """Claim due QUEUED jobs and SENDING jobs whose lease expired; mark them SENDING, and
        return them with their configurations (:class:`JobClaim`). Jobs of
        ``exclude_configurations`` are left for later (the caller's passes hold enough of them).

        ``fair`` False: the oldest due first. True: round-robin across configurations (SPEC §16) —
        up to ``limit`` jobs shared out evenly among the configurations that have claimable jobs
        (each gives up to ``limit // n`` of its oldest due ones), so a configuration's backlog takes
        its share of a pass and another configuration's lone job goes in the same pass. When more
        configurations have work than a claim takes jobs, successive claims go round them: each
        starts after the configuration served last. PostgreSQL finds them by a loose index scan
        (one probe of ``ix_email_jobs_fair`` per configuration, whatever the backlog), so a claim
        costs O(configurations + limit), not O(backlog). The claim is ``exhausted`` when it stopped
        short of its limit and, fair, of every configuration's share: nothing else was due and free."""
        excluded = frozenset(exclude_configurations)
        if self._skip_locked:
            return await self._claim_postgresql(now, limit, fair, excluded)
        return await self._claim_sqlite(now, limit, fair, excluded)

    async def _claim_postgresql(self, now: datetime, limit: int, fair: bool, excluded: frozenset[str]) -> JobClaim:
        params = {"limit": limit, "excluded": sorted(excluded), "after": self._fair_cursor, "now": now,
                  "until": now + self.lease, "owner": self.owner,
                  "queued": JobStatus.QUEUED.value, "sending": JobStatus.SENDING.value}
        async with self._autocommit.connect() as conn:
            rows = [r._mapping for r in await conn.exec_driver_sql(FAIR_CLAIM if fair else OLDEST_FIRST_CLAIM, params)]
        claimed = [ClaimedJob(job_rows.from_mapping(_JOB_ROWS.row(r)), r["claim_was"] == JobStatus.SENDING.value)
                   for r in rows if r["claim_was"] is not None]
        found = {r["c_e_id"]: configuration_rows.from_mapping(_CONFIGURATION_ROWS.row(r))
                 for r in rows if r["c_e_id"] is not None}
        if not fair:
            return JobClaim(claimed, len(claimed) < limit, found)
        seen, share = rows[0]["claim_configurations"], rows[0]["claim_share"]
        reached_all = seen < limit
        self._fair_cursor = "" if reached_all else rows[0]["claim_last"]
        per_configuration = Counter(c.configuration_e_id for c in claimed)
        return JobClaim(claimed, reached_all and all(n < share for n in per_configuration.values()), found)

    async def _claim_sqlite(self, now: datetime, limit: int, fair: bool, excluded: frozenset[str]) -> JobClaim:
        """SQLite: every transaction holds the write lock, so the selection and the update cannot
        race another claim; the claimed rows and their configurations are read in the same one."""
        async with self._engine.begin() as conn:
            select_due = _ranked(now, limit, excluded) if fair else (
                select(*CLAIM_COLUMNS).where(CLAIMABLE_NOW, _due(now), *_not_in(excluded))
                .order_by(jobs.c.next_attempt_at).limit(limit))
            picked = {r.e_id: r.status for r in await conn.execute(select_due)}
            if not picked:
                return JobClaim([], exhausted=True)
            await conn.execute(
                update(jobs).where(jobs.c.e_id.in_(list(picked)))
                .values(status=JobStatus.SENDING.value, lease_owner=self.owner, lease_until=now + self.lease)
            )
            claimed = [ClaimedJob(job_rows.to_domain(r), picked[r.e_id] == JobStatus.SENDING.value)
                       for r in await conn.execute(select(jobs).where(jobs.c.e_id.in_(list(picked)))
                                                   .order_by(jobs.c.next_attempt_at))]
            wanted = {(c.tenant_id, c.configuration_e_id) for c in claimed}
            found = {r.e_id: configuration_rows.to_domain(r) for r in await conn.execute(
                select(configurations).where(configurations.c.e_id.in_(sorted(e for _, e in wanted))))
                if (r.tenant_id, r.e_id) in wanted}
        return JobClaim(claimed, len(claimed) < limit, found)

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
