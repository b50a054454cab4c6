"""Webhook events' storage (the :class:`~tenantmail.services.ports.EventIntake` port), two ways.

* :class:`PostgresEventIntake` — one statement on a direct psycopg connection, its own
  transaction, group-committed with other requests' statements (:mod:`group_commit`): check the event's server against the configuration's, lock the event's job,
  store the event unless it is a duplicate and, only then, move the job and add or lift the
  suppression. The job's next status comes from the domain as a table (status now → status next,
  :class:`~tenantmail.domain.delivery_event.EventEffects`), so the statement applies the rule
  without knowing it, to whatever status the locked row holds — also when another event of the
  same job committed a moment before.
* :class:`UnitOfWorkEventIntake` — the same steps through the repositories in one unit of work;
  used on SQLite.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tenantmail.adapters.db import tables
from tenantmail.adapters.db.direct_sql import bind, names, typed_values
from tenantmail.adapters.db.group_commit import GroupCommit
from tenantmail.adapters.db.repositories import events as event_rows
from tenantmail.adapters.db.repositories import suppressions as suppression_rows
from tenantmail.adapters.db.unit_of_work import UnitOfWork
from tenantmail.domain.delivery_event import DeliveryEvent, EventEffects
from tenantmail.domain.errors import NotFound
from tenantmail.domain.job import JobStatus
from tenantmail.domain.suppression import UNREMOVABLE
from tenantmail.services.ports import EventApplied

_CONFIG, _JOBS, _EVENTS, _SUPP = tables.configurations, tables.jobs, tables.events, tables.suppressions
SUPPRESSION_PREFIX = "s_"
#: The reasons an event never lifts, written into the statement (the domain's own enum values: no
#: input reaches this text).
_UNREMOVABLE = ", ".join(f"'{reason.value}'" for reason in sorted(UNREMOVABLE, key=lambda r: r.value))

#: One webhook event, atomically. Nothing is read for, locked for or written by an event whose
#: ServerID is not the configuration's server (``authorized`` is empty). The job is found by two
#: exact probes (primary key, then (tenant, MessageID)) and locked by its key: no plan the
#: statistics could pick reads more than the one row.
INGEST = f"""
WITH cfg AS (
  SELECT server_id FROM {_CONFIG.name} WHERE tenant_id = %(tenant_id)s AND e_id = %(configuration_e_id)s
), authorized AS (
  SELECT 1 FROM cfg WHERE server_id = %(event_server_id)s OR (%(any_server)s::boolean AND server_id IS NOT NULL)
), job AS (
  SELECT j.e_id, j.status, j.status_times FROM {_JOBS.name} j, authorized
  WHERE j.tenant_id = %(tenant_id)s AND j.e_id = COALESCE(
    (SELECT e_id FROM {_JOBS.name} WHERE tenant_id = %(tenant_id)s AND e_id = %(tm_job)s),
    (SELECT e_id FROM {_JOBS.name} WHERE tenant_id = %(tenant_id)s AND message_id = %(match_message_id)s LIMIT 1))
  FOR UPDATE OF j
), stored AS (
  INSERT INTO {_EVENTS.name} ({names(_EVENTS)})
  SELECT {typed_values(_EVENTS, computed={"job_e_id": "(SELECT e_id FROM job)"})} FROM authorized
  ON CONFLICT (dedup_key) DO NOTHING
  RETURNING e_id
), next AS (
  SELECT job.e_id, %(projection)s::jsonb ->> job.status AS status FROM job WHERE EXISTS (SELECT 1 FROM stored)
), moved AS (
  UPDATE {_JOBS.name} j SET status = next.status, updated_at = %(received_at)s,
    status_times = CASE WHEN j.status_times::jsonb ? next.status THEN j.status_times
                   ELSE (j.status_times::jsonb || jsonb_build_object(next.status, %(received_at_iso)s::text))::json END
  FROM next
  WHERE j.tenant_id = %(tenant_id)s AND j.e_id = next.e_id AND next.status IS NOT NULL AND next.status <> j.status
  RETURNING j.status
), suppressed AS (
  INSERT INTO {_SUPP.name} ({names(_SUPP)})
  SELECT {typed_values(_SUPP, SUPPRESSION_PREFIX)} FROM stored WHERE %(suppress)s::boolean
  ON CONFLICT (tenant_id, recipient) WHERE removed_at IS NULL DO NOTHING
), lifted AS (
  UPDATE {_SUPP.name} s SET removed_at = %(received_at)s FROM stored
  WHERE %(lift)s::boolean AND s.tenant_id = %(tenant_id)s AND s.recipient = %(recipient)s
    AND s.removed_at IS NULL AND s.reason NOT IN ({_UNREMOVABLE})
)
SELECT (SELECT server_id FROM cfg) AS configuration_server_id, (SELECT count(*) FROM stored) AS stored,
  (SELECT e_id FROM job) AS job_e_id, (SELECT status FROM job) AS previous_status,
  (SELECT status FROM moved) AS moved_status
"""

def _status(value: str | None) -> JobStatus | None:
    return JobStatus(value) if value is not None else None


class PostgresEventIntake:
    def __init__(self, commit: GroupCommit, tenant_id: str) -> None:
        self._commit = commit
        self.tenant_id = tenant_id

    async def ingest(
        self, configuration_e_id: str, event: DeliveryEvent, effects: EventEffects, *, received_at: datetime,
    ) -> EventApplied:
        row = event_rows.to_row(event, tenant_id=self.tenant_id, configuration_e_id=configuration_e_id,
                                job_e_id=None, received_at=received_at)
        entry = effects.suppression
        params = {
            **bind(_EVENTS, row), "configuration_e_id": configuration_e_id, "event_server_id": event.server_id,
            "any_server": event.any_server,
            "tm_job": event.job_e_id, "match_message_id": event.message_id,
            "projection": json.dumps({str(k): str(v) for k, v in effects.projection.items()})
            if effects.projection else None,
            "received_at_iso": received_at.isoformat(),
            **bind(_SUPP, suppression_rows.to_row(entry, self.tenant_id) if entry else {}, SUPPRESSION_PREFIX),
            "suppress": entry is not None, "lift": effects.lift,
        }
        found = await self._commit.fetchone(INGEST, params)
        assert found is not None  # an aggregate-only SELECT always answers one row
        previous = _status(found["previous_status"])
        return EventApplied(
            server_id=found["configuration_server_id"], stored=bool(found["stored"]), job_e_id=found["job_e_id"],
            previous_status=previous, status=_status(found["moved_status"]) or previous,
        )


class UnitOfWorkEventIntake:
    """The same steps through the repositories, in one unit of work (committed only if stored)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def ingest(
        self, configuration_e_id: str, event: DeliveryEvent, effects: EventEffects, *, received_at: datetime,
    ) -> EventApplied:
        async with self._uow as uow:
            try:
                server_id = (await uow.configurations.get(configuration_e_id)).server_id
            except NotFound:
                server_id = None
            if not event.from_server(server_id):
                return EventApplied(server_id, False, None, None, None)
            job = await uow.events.job_for_update(event)
            stored = await uow.events.add(event, configuration_e_id=configuration_e_id,
                                          job_e_id=job.e_id if job else None, received_at=received_at)
            previous = job.status if job else None
            if not stored:
                return EventApplied(server_id, False, job.e_id if job else None, previous, previous)
            await self._apply_suppression(uow, event, effects, received_at)
            if job is not None and effects.projection is not None and effects.projection[job.status] is not job.status:
                job.move(effects.projection[job.status], received_at)
                await uow.jobs.save(job)
            await uow.commit()
        return EventApplied(server_id, True, job.e_id if job else None, previous, job.status if job else None)

    @staticmethod
    async def _apply_suppression(uow: Any, event: DeliveryEvent, effects: EventEffects, now: datetime) -> None:
        if effects.suppression is not None:
            await uow.suppressions.add_if_absent(effects.suppression)
        elif effects.lift and event.recipient is not None:
            live = await uow.suppressions.live(event.recipient)
            if live is not None and live.removable:
                live.remove(now)
                await uow.suppressions.mark_removed(live)
