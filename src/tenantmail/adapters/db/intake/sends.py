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

With quotas on, each job is an item with a :class:`~.group_commit.Share` of its tenant's bucket:
the lane takes the tokens of all of a batch's sends of one tenant in one upsert (``take_tokens``:
as many as the bucket and the day hold, up to the number asked) before running them, the sends
past what it granted are refused without running, and the tokens of sends that were not queued
after all (a gate closed meanwhile, the key taken) are given back (``give_back_tokens``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import psycopg

from tenantmail.adapters.db import tables
from tenantmail.adapters.db.intake.dialects import Dialect
from tenantmail.adapters.db.intake.group_commit import GroupCommit, Share, Statement
from tenantmail.adapters.db.repositories import configurations as configuration_rows
from tenantmail.adapters.db.repositories import idempotency as idempotency_rows
from tenantmail.adapters.db.repositories import jobs as job_rows
from tenantmail.domain.errors import IdempotencyInFlight
from tenantmail.domain.idempotency import IdempotencyRecord
from tenantmail.domain.job import EmailJob, JobStatus
from tenantmail.domain.quota import SECONDS_PER_DAY, QuotaExceeded, QuotaTake, TenantLimits
from tenantmail.services.ports import QueueItem, SendFacts

CONFIGURATIONS, RECORDS, JOBS, SUPPRESSIONS, QUOTAS = (
    tables.configurations, tables.idempotency_records, tables.jobs, tables.suppressions, tables.tenant_quotas)
RECORD_PREFIX = "idem_"
JOBS_CHANNEL = "tenantmail_jobs"  #: woken when a batch with new jobs commits (SPEC §16)


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
        claimed = (f"EXISTS (SELECT 1 FROM {RECORDS.name} WHERE tenant_id = {p('tenant_id')}"
                   f" AND namespace = {p(RECORD_PREFIX + 'namespace')} AND key = {p(RECORD_PREFIX + 'key')}"
                   f" AND resource_e_id = {p('e_id')})")
        #: the unit: its last statement returns the job's e_id if and only if it was queued
        self.queue_job: tuple[str, ...] = (
            (f"WITH claimed AS ({claim}\n  RETURNING key)\n{queue} FROM claimed RETURNING e_id",)
            if d.is_postgresql else (claim, f"{queue} WHERE {claimed} RETURNING e_id"))
        self._d = d
        self.take_tokens = self._take()
        self.give_back_tokens = self._give_back()

    def _take(self) -> str:
        """``n`` sends' tokens and as many of the day's quota from the tenant's bucket (created full on
        its first send): as many as both hold, up to ``n`` — ``granted`` says how many."""
        d, q = self._d, QUOTAS.name
        n = d.cast("n", "integer")
        rate, burst, per_day = d.cast("q_rate", "float8"), d.cast("q_burst", "integer"), d.cast("q_per_day", "bigint")
        avail = d.least(f"COALESCE({q}.burst, {burst})",
                        f"{q}.tokens + {d.greatest('0', f'excluded.refilled_at - {q}.refilled_at')}"
                        f" * COALESCE({q}.sends_per_second, {rate})")
        used = f"CASE WHEN {q}.day = excluded.day THEN {q}.day_count ELSE 0 END"
        grant = d.greatest("0", d.least(n, d.whole(avail), f"COALESCE({q}.sends_per_day, {per_day}) - {used}"))
        first = d.least(n, burst, per_day)  # a new bucket is full
        return f"""INSERT INTO {q} (tenant_id, tokens, refilled_at, day, day_count, granted)
VALUES ({d.typed_param('tenant_id', QUOTAS, 'tenant_id')}, {burst} - {first}, {d.cast('q_now', 'float8')},
  {d.cast('q_day', 'integer')}, {first}, {first})
ON CONFLICT (tenant_id) DO UPDATE SET
  tokens = {avail} - {grant},
  refilled_at = {d.greatest(f'{q}.refilled_at', 'excluded.refilled_at')},
  day = excluded.day,
  day_count = {used} + {grant},
  granted = {grant}
RETURNING {", ".join(QUOTA_COLUMNS)}"""

    def _give_back(self) -> str:
        """``n`` tokens taken and not used (their sends were not queued) back into the bucket."""
        d, p, q = self._d, self._d.param, QUOTAS.name
        return f"""UPDATE {q} SET
  tokens = {d.least(f"COALESCE(burst, {d.cast('q_burst', 'integer')})", f"tokens + {d.cast('n', 'integer')}")},
  day_count = CASE WHEN day = {d.cast('q_day', 'integer')} THEN {d.greatest('0', f"day_count - {d.cast('n', 'integer')}")}
    ELSE day_count END
WHERE tenant_id = {p('tenant_id')}"""


#: what a take answers, as the row's columns
QUOTA_COLUMNS = ("granted", "tokens", "day_count", "sends_per_second", "burst", "sends_per_day")


def _quota_params(take: QuotaTake) -> dict[str, Any]:
    return {"q_rate": take.defaults.sends_per_second, "q_burst": take.defaults.burst,
            "q_per_day": take.defaults.sends_per_day, "q_now": take.now.timestamp(),
            "q_day": int(take.now.timestamp() // SECONDS_PER_DAY)}


def _quota_refusal(take: QuotaTake, row: dict[str, Any]) -> QuotaExceeded:
    """The refusal of a send the take's row (its bucket after the batch's take) gave no token."""
    limits = TenantLimits(row["sends_per_second"], row["burst"], row["sends_per_day"]).over(take.defaults)
    return QuotaExceeded(limits, tokens=float(row["tokens"]), day_count=int(row["day_count"]), now=take.now)


class SendStore:
    """The send path's two units, each through the process's :class:`GroupCommit`."""

    def __init__(self, commit: GroupCommit, dialect: Dialect, *, wake_dispatch: bool = True) -> None:
        self._commit = commit
        #: new jobs wake the workers (SPEC §16); off with TENANTMAIL_DISPATCH_PUSH=false (polling only)
        self._wakes = JOBS_CHANNEL if wake_dispatch else None
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
        quota: QuotaTake | None = None,
    ) -> bool:
        [outcome] = await self.queue_jobs(namespace, [QueueItem(job, record, configuration_version)], quota=quota)
        if isinstance(outcome, QuotaExceeded):
            raise outcome
        return outcome

    async def queue_jobs(
        self, namespace: str, items: Sequence[QueueItem], *, quota: QuotaTake | None = None,
    ) -> list[bool | QuotaExceeded]:
        """Every item as :meth:`queue_job` would queue it, all in one unit (one transaction; the
        items' statements are the same text, so PostgreSQL runs them as one ``executemany``):
        whether each was queued, or the quota's refusal."""
        if not items:
            return []
        texts = self._sql.queue_job
        share = None
        if quota is not None:  # one share per item: the batch's items take their tokens together
            tenant_id = items[0].job.tenant_id
            share = Share(f"quota:{tenant_id}", self._sql.take_tokens, self._sql.give_back_tokens,
                          {"tenant_id": tenant_id, **_quota_params(quota)})
        unit: list[Statement] = []
        for item in items:
            params = {
                "configuration_version": item.configuration_version,
                **self._records.params(idempotency_rows.to_row(item.job.tenant_id, namespace, item.record)),
                **self._jobs.params(job_rows.to_row(item.job)),
            }
            unit += [Statement(sql, params, share=share if step == 0 else None) for step, sql in enumerate(texts)]
        unit[-1] = dataclasses.replace(unit[-1], wakes=self._wakes)  # the batch wakes dispatch once
        try:
            result = await self._commit.run_committed_result(*unit)
        except psycopg.errors.LockNotAvailable as exc:
            raise IdempotencyInFlight() from exc
        outcomes: list[bool | QuotaExceeded] = []
        for i in range(len(items)):
            if quota is not None and not result.shares[i]["granted"]:
                outcomes.append(_quota_refusal(quota, result.shares[i]))
            else:  # the item's last statement returns the e_id when it was queued
                outcomes.append(result.rows[(i + 1) * len(texts) - 1] is not None)
        return outcomes

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
