"""The send path's storage (the :class:`~tenantmail.services.ports.SendIntake` port), two ways.

* :class:`PostgresSendIntake` — statements on direct psycopg connections, each its own
  transaction, group-committed with other requests' statements (:mod:`group_commit`). ``LOOK`` reads every gate's facts in one SELECT.
  ``ENQUEUE`` is one INSERT … WITH: it re-checks, inside the statement, that the gates still hold
  as the caller saw them (configuration row at the same version, no live suppression), writes the
  idempotency record, and inserts the job only from the record's RETURNING — both or neither. A
  racing request with the same key waits on the first one's uncommitted record inside that
  statement, for at most the pool's lock wait.
* :class:`UnitOfWorkSendIntake` — the same through the tenant-scoped repositories in one
  transaction; used on SQLite, where the whole request holds the write lock.

The SQL is built once, from the table metadata (:mod:`direct_sql`).
"""

from __future__ import annotations

from typing import Any, Self

import psycopg

from tenantmail.adapters.db import tables
from tenantmail.adapters.db.direct_sql import bind, names, selected, typed_values, unprefixed
from tenantmail.adapters.db.group_commit import GroupCommit
from tenantmail.adapters.db.repositories import configurations as configuration_rows
from tenantmail.adapters.db.repositories import idempotency as idempotency_rows
from tenantmail.adapters.db.repositories import jobs as job_rows
from tenantmail.adapters.db.unit_of_work import UnitOfWork
from tenantmail.domain.errors import IdempotencyInFlight, NotFound
from tenantmail.domain.idempotency import IdempotencyRecord
from tenantmail.domain.job import EmailJob, JobStatus
from tenantmail.services.ports import SendFacts

_CONFIG, _IDEM, _JOBS, _SUPP = (tables.configurations, tables.idempotency_records, tables.jobs, tables.suppressions)
IDEM_PREFIX = "idem_"

#: The gates' facts in one read: the key's record and its job's status, the configuration, and the
#: recipient's live suppression. Each join may find nothing; the one-row seed keeps the row.
LOOK = f"""
SELECT {selected(_CONFIG, "c")}, {selected(_IDEM, "i", IDEM_PREFIX)}, j.status AS record_job_status,
  (SELECT s.reason FROM {_SUPP.name} s WHERE s.tenant_id = %(tenant_id)s AND s.recipient = %(recipient)s
     AND s.removed_at IS NULL LIMIT 1) AS suppression_reason
FROM (SELECT 1) AS seed
LEFT JOIN {_CONFIG.name} c ON c.tenant_id = %(tenant_id)s AND c.e_id = %(configuration_e_id)s
LEFT JOIN {_IDEM.name} i ON i.tenant_id = %(tenant_id)s AND i.namespace = %(namespace)s AND i.key = %(key)s
LEFT JOIN {_JOBS.name} j ON j.tenant_id = %(tenant_id)s AND j.e_id = i.resource_e_id
"""

_RENEWED = ", ".join(f"{c.name} = EXCLUDED.{c.name}" for c in _IDEM.columns if not c.primary_key)
#: The record (or the renewal of an expired one) while the gates hold as the caller saw them, and
#: the job only if the record was written: both or neither, in one statement.
ENQUEUE = f"""
WITH gates_hold AS (
  SELECT 1 FROM {_CONFIG.name} c
  WHERE c.tenant_id = %(tenant_id)s AND c.e_id = %(configuration_e_id)s AND c.version = %(configuration_version)s
    AND NOT EXISTS (SELECT 1 FROM {_SUPP.name} s WHERE s.tenant_id = %(tenant_id)s
                    AND s.recipient = %(recipient)s AND s.removed_at IS NULL)
), claimed AS (
  INSERT INTO {_IDEM.name} ({names(_IDEM)}) SELECT {typed_values(_IDEM, IDEM_PREFIX)} FROM gates_hold
  ON CONFLICT (tenant_id, namespace, key) DO UPDATE SET {_RENEWED}
  WHERE {_IDEM.name}.expires_at <= EXCLUDED.created_at
  RETURNING key
)
INSERT INTO {_JOBS.name} ({names(_JOBS)})
SELECT {typed_values(_JOBS)} FROM claimed
RETURNING e_id
"""


def _facts(row: dict[str, Any]) -> SendFacts:
    record = None
    if row[f"{IDEM_PREFIX}key"] is not None:
        record = idempotency_rows.from_mapping(unprefixed(_IDEM, row, IDEM_PREFIX))
    status = row["record_job_status"]
    return SendFacts(
        record=record, record_job_status=JobStatus(status) if status else None,
        configuration=configuration_rows.from_mapping(row) if row["e_id"] is not None else None,
        suppressed_for=row["suppression_reason"],
    )


class PostgresSendIntake:
    """Each statement through the process's :class:`GroupCommit` (its own transaction, committed
    with whatever other requests' statements share its batch)."""

    def __init__(self, commit: GroupCommit, tenant_id: str) -> None:
        self._commit = commit
        self.tenant_id = tenant_id

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None

    async def look(self, namespace: str, key: str, configuration_e_id: str, recipient: str) -> SendFacts:
        row = await self._commit.fetchone(LOOK, {
            "tenant_id": self.tenant_id, "namespace": namespace, "key": key,
            "configuration_e_id": configuration_e_id, "recipient": recipient,
        })
        assert row is not None  # the seed row is always there
        return _facts(row)

    async def enqueue(
        self, job: EmailJob, namespace: str, record: IdempotencyRecord, *, configuration_version: int,
    ) -> bool:
        params = {
            "tenant_id": self.tenant_id, "configuration_e_id": job.configuration_e_id,
            "configuration_version": configuration_version, "recipient": job.recipient,
            **bind(_IDEM, idempotency_rows.to_row(self.tenant_id, namespace, record), IDEM_PREFIX),
            **bind(_JOBS, job_rows.to_row(job)),
        }
        try:
            return await self._commit.fetchone(ENQUEUE, params) is not None
        except psycopg.errors.LockNotAvailable as exc:
            raise IdempotencyInFlight() from exc


class UnitOfWorkSendIntake:
    """The port over one unit of work: look and enqueue share its transaction."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def __aenter__(self) -> Self:
        await self._uow.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._uow.__aexit__(*exc)

    async def look(self, namespace: str, key: str, configuration_e_id: str, recipient: str) -> SendFacts:
        uow = self._uow
        record = await uow.idempotency.get(namespace, key)
        job = await uow.jobs.find(record.resource_e_id) if record and record.resource_e_id else None
        try:
            configuration, suppressed_for = await uow.configurations.get_for_send(configuration_e_id, recipient)
        except NotFound:
            configuration, suppressed_for = None, None
        return SendFacts(record, job.status if job else None, configuration, suppressed_for)

    async def enqueue(
        self, job: EmailJob, namespace: str, record: IdempotencyRecord, *, configuration_version: int,
    ) -> bool:
        uow = self._uow
        try:
            config, suppressed_for = await uow.configurations.get_for_send(job.configuration_e_id, job.recipient)
        except NotFound:
            return False
        if config.version != configuration_version or suppressed_for is not None:
            return False
        if not await uow.idempotency.insert_if_absent(namespace, record):
            existing = await uow.idempotency.get(namespace, record.key)
            if existing is not None and not existing.expired(record.created_at):
                return False
            await uow.idempotency.discard(namespace, record.key)  # expired: the key is free again
            if not await uow.idempotency.insert_if_absent(namespace, record):
                return False
        await uow.jobs.add(job)
        await uow.commit()
        return True
