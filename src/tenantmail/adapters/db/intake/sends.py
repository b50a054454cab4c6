"""The send path's storage (:class:`~tenantmail.services.ports.SendStore`): two units of SQL.

* ``read_gates`` — every gate's facts in one SELECT: the key's record and its job's status, the
  configuration, the recipient's live suppression.
* ``queue_job`` — the idempotency record and the job, both or neither, and only while the gates
  still hold as the caller saw them: the configuration row at the version the gates were decided
  on, no live suppression for the recipient, and the key free — not recorded, or recorded and
  expired (then the record is renewed in place). A racing request with the same key waits for
  the first one's uncommitted record, for at most the lane's lock wait (PostgreSQL; SQLite's
  single writer already orders them).

Each condition is written once below; only how they are put together differs: PostgreSQL runs
the record's upsert inside the job's ``INSERT`` as a data-modifying ``WITH`` (one statement, so one
round trip per batch), SQLite — which has no data-modifying ``WITH`` — runs the upsert and then the
job's ``INSERT``, which finds the record pointing at this job only if the upsert wrote it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from tenantmail.adapters.db import tables
from tenantmail.adapters.db.intake.dialects import Dialect
from tenantmail.adapters.db.intake.group_commit import GroupCommit, Statement
from tenantmail.adapters.db.repositories import configurations as configuration_rows
from tenantmail.adapters.db.repositories import idempotency as idempotency_rows
from tenantmail.adapters.db.repositories import jobs as job_rows
from tenantmail.domain.errors import IdempotencyInFlight
from tenantmail.domain.idempotency import IdempotencyRecord
from tenantmail.domain.job import EmailJob, JobStatus
from tenantmail.services.ports import QueueItem, SendFacts

CONFIGURATIONS, RECORDS, JOBS, SUPPRESSIONS = (
    tables.configurations, tables.idempotency_records, tables.jobs, tables.suppressions)
RECORD_PREFIX = "idem_"


class SendStatements:
    """The send path's SQL text in one dialect."""

    def __init__(self, d: Dialect) -> None:
        p = d.param
        suppressed = (f"SELECT 1 FROM {SUPPRESSIONS.name} s WHERE s.tenant_id = {p('tenant_id')}"
                      f" AND s.recipient = {p('recipient')} AND s.removed_at IS NULL")
        self.read_gates = f"""
SELECT {d.selected(CONFIGURATIONS, "c")}, {d.selected(RECORDS, "i", RECORD_PREFIX)}, j.status AS record_job_status,
  (SELECT s.reason FROM {SUPPRESSIONS.name} s
     WHERE s.tenant_id = {p('tenant_id')} AND s.recipient = {p('recipient')} AND s.removed_at IS NULL LIMIT 1)
     AS suppression_reason
FROM (SELECT 1) AS seed
LEFT JOIN {CONFIGURATIONS.name} c ON c.tenant_id = {p('tenant_id')} AND c.e_id = {p('configuration_e_id')}
LEFT JOIN {RECORDS.name} i ON i.tenant_id = {p('tenant_id')} AND i.namespace = {p(RECORD_PREFIX + 'namespace')}
  AND i.key = {p(RECORD_PREFIX + 'key')}
LEFT JOIN {JOBS.name} j ON j.tenant_id = {p('tenant_id')} AND j.e_id = i.resource_e_id
"""
        gates_hold = (f"EXISTS (SELECT 1 FROM {CONFIGURATIONS.name} c WHERE c.tenant_id = {p('tenant_id')}"
                      f" AND c.e_id = {p('configuration_e_id')} AND c.version = {p('configuration_version')}"
                      f" AND NOT EXISTS ({suppressed}))")
        renewed = ", ".join(f"{c.name} = excluded.{c.name}" for c in RECORDS.columns if not c.primary_key)
        #: the record, or the renewal of an expired one, while the gates hold
        claim = f"""
INSERT INTO {RECORDS.name} ({d.columns(RECORDS)}) SELECT {d.values(RECORDS, RECORD_PREFIX)} WHERE {gates_hold}
ON CONFLICT (tenant_id, namespace, key) DO UPDATE SET {renewed}
WHERE {RECORDS.name}.expires_at <= excluded.created_at"""
        queue = f"INSERT INTO {JOBS.name} ({d.columns(JOBS)}) SELECT {d.values(JOBS)}"
        if d.is_postgresql:
            self.queue_job: tuple[str, ...] = (
                f"WITH claimed AS ({claim}\n  RETURNING key)\n{queue} FROM claimed RETURNING e_id",)
        else:
            claimed = (f"EXISTS (SELECT 1 FROM {RECORDS.name} WHERE tenant_id = {p('tenant_id')}"
                       f" AND namespace = {p(RECORD_PREFIX + 'namespace')} AND key = {p(RECORD_PREFIX + 'key')}"
                       f" AND resource_e_id = {p('e_id')})")
            self.queue_job = (claim, f"{queue} WHERE {claimed} RETURNING e_id")
        #: the same statements for item ``i`` of a batch: its row's queued eId under ``queued_{i}``
        self.queue_item = lambda i: self.queue_job[:-1] + (
            self.queue_job[-1].removesuffix("RETURNING e_id") + f"RETURNING e_id AS queued_{i}",)


class SendStore:
    """The send path's two units, each through the process's :class:`GroupCommit`."""

    def __init__(self, commit: GroupCommit, dialect: Dialect) -> None:
        self._commit = commit
        self._sql = SendStatements(dialect)
        self._configurations = dialect.codec(CONFIGURATIONS)
        self._records = dialect.codec(RECORDS, RECORD_PREFIX)
        self._jobs = dialect.codec(JOBS)

    async def read_gates(
        self, tenant_id: str, namespace: str, key: str, configuration_e_id: str, recipient: str,
    ) -> SendFacts:
        row = await self._commit.run_committed(Statement(self._sql.read_gates, {
            "tenant_id": tenant_id, f"{RECORD_PREFIX}namespace": namespace, f"{RECORD_PREFIX}key": key,
            "configuration_e_id": configuration_e_id, "recipient": recipient,
        }))
        assert row is not None  # the seed row is always there
        return self._facts(row)

    async def queue_job(
        self, job: EmailJob, namespace: str, record: IdempotencyRecord, *, configuration_version: int,
    ) -> bool:
        params = {
            "configuration_version": configuration_version,
            **self._records.params(idempotency_rows.to_row(job.tenant_id, namespace, record)),
            **self._jobs.params(job_rows.to_row(job)),
        }
        try:
            queued = await self._commit.run_committed(*(Statement(sql, params) for sql in self._sql.queue_job))
        except psycopg.errors.LockNotAvailable as exc:
            raise IdempotencyInFlight() from exc
        return queued is not None

    async def queue_jobs(self, namespace: str, items: Sequence[QueueItem]) -> list[bool]:
        """Every item as :meth:`queue_job` would queue it, all in one unit (one transaction);
        whether each was queued, in order."""
        unit = []
        for i, item in enumerate(items):
            params = {
                "configuration_version": item.configuration_version,
                **self._records.params(idempotency_rows.to_row(item.job.tenant_id, namespace, item.record)),
                **self._jobs.params(job_rows.to_row(item.job)),
            }
            unit += [Statement(sql, params) for sql in self._sql.queue_item(i)]
        if not unit:
            return []
        try:
            row = await self._commit.run_committed(*unit) or {}
        except psycopg.errors.LockNotAvailable as exc:
            raise IdempotencyInFlight() from exc
        return [row.get(f"queued_{i}") is not None for i in range(len(items))]

    def _facts(self, row: dict[str, Any]) -> SendFacts:
        record = None
        if row[f"{RECORD_PREFIX}key"] is not None:
            record = idempotency_rows.from_mapping(self._records.row(row))
        status = row["record_job_status"]
        return SendFacts(
            record=record, record_job_status=JobStatus(status) if status else None,
            configuration=configuration_rows.from_mapping(self._configurations.row(row))
            if row["e_id"] is not None else None,
            suppressed_for=row["suppression_reason"],
        )
