"""A webhook event's transaction (the :class:`~tenantmail.services.ports.EventIntake` port), two ways.

* :class:`PostgresEventIntake` — a transaction on a direct psycopg connection (:mod:`direct_pool`):
  ``BEGIN``; one statement (``OPEN``) that reads the configuration's server, locks the event's job
  and stores the event unless it is a duplicate; the job's new status and any suppression change;
  ``COMMIT``. Four round trips for the common Delivery event, where the repositories took seven.
* :class:`UnitOfWorkEventIntake` — the same through the tenant-scoped repositories in one unit of
  work; used on SQLite.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from psycopg.pq import TransactionStatus

from tenantmail.adapters.db import tables
from tenantmail.adapters.db.direct_pool import DirectScope
from tenantmail.adapters.db.direct_sql import bind, names, selected, typed_assignments, typed_values
from tenantmail.adapters.db.repositories import events as event_rows
from tenantmail.adapters.db.repositories import jobs as job_rows
from tenantmail.adapters.db.repositories import suppressions as suppression_rows
from tenantmail.adapters.db.unit_of_work import UnitOfWorkScope
from tenantmail.domain.delivery_event import DeliveryEvent
from tenantmail.domain.errors import NotFound
from tenantmail.domain.job import EmailJob
from tenantmail.domain.suppression import SuppressionEntry
from tenantmail.services.ports import EventOpening

_CONFIG, _JOBS, _EVENTS, _SUPP = tables.configurations, tables.jobs, tables.events, tables.suppressions

#: The configuration's server; the event's job by ``tm_job``, else MessageID, row-locked; the event
#: stored (with its job's eId) only if its ServerID is the configuration's, and only once.
OPEN = f"""
WITH cfg AS (
  SELECT server_id FROM {_CONFIG.name} WHERE tenant_id = %(tenant_id)s AND e_id = %(configuration_e_id)s
), job AS (
  SELECT * FROM {_JOBS.name} j
  WHERE j.tenant_id = %(tenant_id)s AND (j.e_id = %(tm_job)s OR j.message_id = %(match_message_id)s)
  ORDER BY CASE WHEN j.e_id = %(tm_job)s THEN 0 ELSE 1 END
  LIMIT 1 FOR UPDATE
), stored AS (
  INSERT INTO {_EVENTS.name} ({names(_EVENTS)})
  SELECT {typed_values(_EVENTS, computed={"job_e_id": "(SELECT e_id FROM job)"})} FROM cfg
  WHERE cfg.server_id = %(event_server_id)s
  ON CONFLICT (dedup_key) DO NOTHING
  RETURNING e_id
)
SELECT (SELECT server_id FROM cfg) AS configuration_server_id, (SELECT count(*) FROM stored) AS stored,
  {selected(_JOBS, "job")}
FROM (SELECT 1) AS seed LEFT JOIN job ON true
"""
#: What projecting an event changes (``EmailJob.move``): the job's row is locked, and nothing else
#: of it — not the dispatcher's lease, not the MessageID it may be about to store — is written.
MOVED_COLUMNS = ("status", "status_times", "updated_at")
SAVE_JOB = f"""UPDATE {_JOBS.name} SET {typed_assignments(_JOBS, MOVED_COLUMNS)}
WHERE tenant_id = %(tenant_id)s AND e_id = %(e_id)s"""
ADD_SUPPRESSION = f"""INSERT INTO {_SUPP.name} ({names(_SUPP)}) VALUES ({typed_values(_SUPP)})
ON CONFLICT (tenant_id, recipient) WHERE removed_at IS NULL DO NOTHING"""
LIVE_SUPPRESSION = f"""SELECT * FROM {_SUPP.name}
WHERE tenant_id = %(tenant_id)s AND recipient = %(recipient)s AND removed_at IS NULL LIMIT 1"""
REMOVE_SUPPRESSION = f"""UPDATE {_SUPP.name} SET {typed_assignments(_SUPP, ["removed_at"])}
WHERE tenant_id = %(tenant_id)s AND id = %(id)s"""


class PostgresEventIntake(DirectScope):
    async def __aenter__(self) -> Self:
        await super().__aenter__()
        try:
            await self._connection().execute("BEGIN")
        except BaseException as exc:
            await super().__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(self, *exc: Any) -> None:
        conn = self._conn
        try:
            if conn is not None and not conn.closed and conn.info.transaction_status is not TransactionStatus.IDLE:
                await conn.execute("ROLLBACK")  # not committed: nothing of it is kept
        finally:
            await super().__aexit__(*exc)

    async def open(self, configuration_e_id: str, event: DeliveryEvent, *, received_at: datetime) -> EventOpening:
        row = event_rows.to_row(event, tenant_id=self.tenant_id, configuration_e_id=configuration_e_id,
                                job_e_id=None, received_at=received_at)
        cursor = await self._connection().execute(OPEN, {
            **bind(_EVENTS, row), "configuration_e_id": configuration_e_id, "tm_job": event.job_e_id,
            "match_message_id": event.message_id, "event_server_id": event.server_id,
        })
        found = await cursor.fetchone()
        assert found is not None  # the seed row is always there
        job = job_rows.from_mapping({c.name: found[c.name] for c in _JOBS.columns}) if found["e_id"] else None
        return EventOpening(found["configuration_server_id"], job, bool(found["stored"]))

    async def save_job(self, job: EmailJob) -> None:
        row = job_rows.to_row(job)
        await self._connection().execute(SAVE_JOB, {
            **bind(_JOBS, {name: row[name] for name in MOVED_COLUMNS}), "tenant_id": self.tenant_id, "e_id": job.e_id,
        })

    async def add_suppression(self, entry: SuppressionEntry) -> None:
        await self._connection().execute(ADD_SUPPRESSION, bind(_SUPP, suppression_rows.to_row(entry, self.tenant_id)))

    async def live_suppression(self, recipient: str) -> SuppressionEntry | None:
        cursor = await self._connection().execute(LIVE_SUPPRESSION, {"tenant_id": self.tenant_id, "recipient": recipient})
        found = await cursor.fetchone()
        return suppression_rows.from_mapping(found) if found else None

    async def mark_suppression_removed(self, entry: SuppressionEntry) -> None:
        await self._connection().execute(REMOVE_SUPPRESSION, {
            "tenant_id": self.tenant_id, "id": entry.id, "removed_at": entry.removed_at,
        })

    async def commit(self) -> None:
        await self._connection().execute("COMMIT")


class UnitOfWorkEventIntake(UnitOfWorkScope):
    """The port over one unit of work (its repositories and its transaction)."""

    async def open(self, configuration_e_id: str, event: DeliveryEvent, *, received_at: datetime) -> EventOpening:
        uow = self._uow
        try:
            server_id = (await uow.configurations.get(configuration_e_id)).server_id
        except NotFound:
            server_id = None
        if server_id is None or event.server_id != server_id:
            return EventOpening(server_id, None, stored=False)
        job = await uow.events.job_for_update(event)
        stored = await uow.events.add(event, configuration_e_id=configuration_e_id,
                                      job_e_id=job.e_id if job else None, received_at=received_at)
        return EventOpening(server_id, job, stored)

    async def save_job(self, job: EmailJob) -> None:
        await self._uow.jobs.save(job)

    async def add_suppression(self, entry: SuppressionEntry) -> None:
        await self._uow.suppressions.add_if_absent(entry)

    async def live_suppression(self, recipient: str) -> SuppressionEntry | None:
        return await self._uow.suppressions.live(recipient)

    async def mark_suppression_removed(self, entry: SuppressionEntry) -> None:
        await self._uow.suppressions.mark_removed(entry)

    async def commit(self) -> None:
        await self._uow.commit()
