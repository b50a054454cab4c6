"""Webhook events' storage (:class:`~tenantmail.services.ports.EventStore`): one unit of SQL.

Atomically, and only if the event's ServerID is the configuration's server: find the event's job
(``tm_job`` first, then MessageID: two exact probes), store the event unless its dedup key is
stored already and, only then, move the job (recording the event's MessageID if the job has none
yet) and add or lift the recipient's suppression.

What the event does is decided by the domain before storage is touched
(:class:`~tenantmail.domain.delivery_event.EventEffects`): the job's next status *for each status it
may be in* (a table, from ``project``), the suppression to add, whether to lift. The SQL only looks
the job's current status up in that table, so the rule is applied to whatever status the job holds
when the unit runs — also when another event of the same job committed a moment before. A status's
first time is kept (``Dialect.json_set_default``, the SQL form of ``Job.move``'s ``setdefault``).

PostgreSQL runs it as one statement (data-modifying ``WITH``; the job row locked with ``FOR
UPDATE``, so a job's events apply one at a time); SQLite, which has neither, runs the same steps
as consecutive statements inside its single writer's transaction.
"""

from __future__ import annotations

import json
from datetime import datetime

from tenantmail.adapters.db import tables
from tenantmail.adapters.db.intake.dialects import Dialect
from tenantmail.adapters.db.intake.group_commit import GroupCommit, Statement
from tenantmail.adapters.db.repositories import events as event_rows
from tenantmail.adapters.db.repositories import suppressions as suppression_rows
from tenantmail.domain.delivery_event import DeliveryEvent, EventEffects
from tenantmail.domain.job import JobStatus
from tenantmail.domain.suppression import UNREMOVABLE
from tenantmail.services.ports import EventApplied

CONFIGURATIONS, JOBS, EVENTS, SUPPRESSIONS = tables.configurations, tables.jobs, tables.events, tables.suppressions
SUPPRESSION_PREFIX = "s_"
#: The reasons an event never lifts, written into the text (the domain's own enum values: no input
#: reaches it).
_UNREMOVABLE = ", ".join(f"'{reason.value}'" for reason in sorted(UNREMOVABLE, key=lambda r: r.value))


class EventStatements:
    """The webhook's SQL text in one dialect: the ``store_and_apply`` statements (always), then,
    on SQLite, ``suppress`` and ``lift`` for the events that need them (PostgreSQL: inside the one
    statement, switched by parameters)."""

    store_and_apply: tuple[str, ...]
    suppress: str | None = None
    lift: str | None = None

    def __init__(self, d: Dialect) -> None:
        p = d.param
        server = (f"(SELECT server_id FROM {CONFIGURATIONS.name} WHERE tenant_id = {p('tenant_id')}"
                  f" AND e_id = {p('configuration_e_id')})")
        #: the event's ServerID is the configuration's server (``DeliveryEvent.from_server``: an
        #: Open or Click without one is accepted from any configuration that has a server)
        authorized = (f"({server} = {p('event_server_id')} OR ({d.flag('any_server')} AND {server} IS NOT NULL))")
        job_key = (f"COALESCE((SELECT e_id FROM {JOBS.name} WHERE tenant_id = {p('tenant_id')} AND e_id = {p('tm_job')}),"
                   f" (SELECT e_id FROM {JOBS.name} WHERE tenant_id = {p('tenant_id')}"
                   f" AND message_id = {p('match_message_id')} LIMIT 1))")
        insert_event = f"INSERT INTO {EVENTS.name} ({d.columns(EVENTS)}) SELECT {{values}}"
        insert_suppression = (f"INSERT INTO {SUPPRESSIONS.name} ({d.columns(SUPPRESSIONS)})"
                              f" SELECT {d.values(SUPPRESSIONS, SUPPRESSION_PREFIX)}")
        live_suppression = ("ON CONFLICT (tenant_id, recipient) WHERE removed_at IS NULL DO NOTHING")
        liftable = (f"tenant_id = {p('tenant_id')} AND recipient = {p('recipient')} AND removed_at IS NULL"
                    f" AND reason NOT IN ({_UNREMOVABLE})")

        event_message_id = d.typed_param("match_message_id", JOBS, "message_id")

        def moves(status: str) -> str:
            next_status = d.json_value("projection", status)
            return f"({next_status} IS NOT NULL AND {next_status} <> {status})"

        def update(status: str, status_times: str, message_id: str) -> str:
            """Move the job when the projection says so, and record the event's MessageID when the job
            has none (SPEC §14: matched by ``tm_job`` before the dispatch answer was committed, or
            never answered at all — Postmark accepted it all the same)."""
            next_status, moving = d.json_value("projection", status), moves(status)
            times = d.json_set_default(status_times, next_status, "received_at_iso")
            return (f"status = CASE WHEN {moving} THEN {next_status} ELSE {status} END,"
                    f" updated_at = {p('received_at')},"
                    f" status_times = CASE WHEN {moving} THEN {times} ELSE {status_times} END,"
                    f" message_id = COALESCE({message_id}, {event_message_id})")

        def changes(status: str, message_id: str) -> str:
            return f"({moves(status)} OR ({message_id} IS NULL AND {event_message_id} IS NOT NULL))"

        if d.is_postgresql:
            self.store_and_apply = (f"""
WITH authorized AS (SELECT 1 WHERE {authorized}),
job AS (
  SELECT j.e_id, j.status FROM {JOBS.name} j, authorized
  WHERE j.tenant_id = {p('tenant_id')} AND j.e_id = {job_key} FOR UPDATE OF j
), stored AS (
  {insert_event.format(values=d.values(EVENTS, computed={"job_e_id": "(SELECT e_id FROM job)"}))} FROM authorized
  ON CONFLICT (dedup_key) DO NOTHING RETURNING e_id
), moved AS (
  UPDATE {JOBS.name} j SET {update('j.status', 'j.status_times', 'j.message_id')}
  FROM job WHERE EXISTS (SELECT 1 FROM stored) AND j.tenant_id = {p('tenant_id')} AND j.e_id = job.e_id
    AND {changes('j.status', 'j.message_id')}
  RETURNING j.status
), suppressed AS (
  {insert_suppression} FROM stored WHERE {d.flag('suppress')} {live_suppression}
), lifted AS (
  UPDATE {SUPPRESSIONS.name} SET removed_at = {p('received_at')} FROM stored WHERE {d.flag('lift')} AND {liftable}
)
SELECT {server} AS configuration_server_id, (SELECT count(*) FROM stored) AS stored,
  (SELECT e_id FROM job) AS job_e_id, (SELECT status FROM job) AS previous_status,
  (SELECT status FROM moved) AS moved_status
""",)
            return
        stored = f"EXISTS (SELECT 1 FROM {EVENTS.name} WHERE e_id = {p('e_id')})"  # a fresh eId: ours
        self.store_and_apply = (
            f"SELECT {server} AS configuration_server_id, j.e_id AS job_e_id, j.status AS previous_status"
            f" FROM (SELECT 1) AS seed LEFT JOIN {JOBS.name} j"
            f" ON {authorized} AND j.tenant_id = {p('tenant_id')} AND j.e_id = {job_key}",
            f"{insert_event.format(values=d.values(EVENTS, computed={'job_e_id': job_key}))} WHERE {authorized}"
            " ON CONFLICT (dedup_key) DO NOTHING RETURNING 1 AS stored",
            f"UPDATE {JOBS.name} SET {update('status', 'status_times', 'message_id')}"
            f" WHERE tenant_id = {p('tenant_id')}"
            f" AND e_id = (SELECT job_e_id FROM {EVENTS.name} WHERE e_id = {p('e_id')})"
            f" AND {changes('status', 'message_id')}"
            " RETURNING status AS moved_status",
        )
        self.suppress = f"{insert_suppression} WHERE {stored} {live_suppression}"
        self.lift = f"UPDATE {SUPPRESSIONS.name} SET removed_at = {p('received_at')} WHERE {stored} AND {liftable}"


class EventStore:
    """The webhook's unit, through the process's :class:`GroupCommit`."""

    def __init__(self, commit: GroupCommit, dialect: Dialect) -> None:
        self._commit, self._sql = commit, EventStatements(dialect)
        self._events, self._suppressions = dialect.codec(EVENTS), dialect.codec(SUPPRESSIONS, SUPPRESSION_PREFIX)

    async def store_and_apply(
        self, tenant_id: str, configuration_e_id: str, event: DeliveryEvent, effects: EventEffects, *,
        received_at: datetime,
    ) -> EventApplied:
        entry = effects.suppression
        params = {
            **self._events.params(event_rows.to_row(event, tenant_id=tenant_id, configuration_e_id=configuration_e_id,
                                                    job_e_id=None, received_at=received_at)),
            "configuration_e_id": configuration_e_id, "event_server_id": event.server_id,
            "any_server": event.any_server,
            "tm_job": event.job_e_id, "match_message_id": event.message_id,
            "projection": json.dumps({str(k): str(v) for k, v in effects.projection.items()})
            if effects.projection else None,
            "received_at_iso": received_at.isoformat(),
            **(self._suppressions.params(suppression_rows.to_row(entry, tenant_id)) if entry
               else self._suppressions.nulls()),
            "suppress": entry is not None, "lift": effects.lift,
        }
        row = await self._commit.run_committed(*self._unit(params, entry is not None, effects.lift))
        assert row is not None  # the first statement always answers one row
        previous = _status(row.get("previous_status"))
        return EventApplied(
            server_id=row["configuration_server_id"], stored=bool(row.get("stored")), job_e_id=row.get("job_e_id"),
            previous_status=previous, status=_status(row.get("moved_status")) or previous,
        )

    def _unit(self, params: dict[str, object], suppress: bool, lift: bool) -> list[Statement]:
        sql = self._sql
        unit = [Statement(text, params) for text in sql.store_and_apply]
        if suppress and sql.suppress is not None:
            unit.append(Statement(sql.suppress, params))
        if lift and sql.lift is not None:
            unit.append(Statement(sql.lift, params))
        return unit


def _status(value: str | None) -> JobStatus | None:
    return JobStatus(value) if value is not None else None
