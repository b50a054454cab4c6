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
        self._d, self._claim, self._queue, self._gates_hold = d, claim, queue, gates_hold
        self.queue_job = self._queue_unit(quota=False, suffix="")
        self._units: dict[tuple[bool, str], tuple[str, ...]] = {}

    def queue_unit(self, *, quota: bool, suffix: str = "") -> tuple[str, ...]:
        """``queue_job``'s statements, taking a token of the tenant's quota first when ``quota``;
        the row's columns ``suffix``-ed (items of one batch: ``_0``, ``_1``…)."""
        found = self._units.get((quota, suffix))
        if found is None:
            found = self._units[(quota, suffix)] = self._queue_unit(quota=quota, suffix=suffix)
        return found

    def _queue_unit(self, *, quota: bool, suffix: str) -> tuple[str, ...]:
        d, p, claim, queue = self._d, self._d.param, self._claim, self._queue
        queued = f"RETURNING e_id AS e_id{suffix}"
        claimed = (f"EXISTS (SELECT 1 FROM {RECORDS.name} WHERE tenant_id = {p('tenant_id')}"
                   f" AND namespace = {p(RECORD_PREFIX + 'namespace')} AND key = {p(RECORD_PREFIX + 'key')}"
                   f" AND resource_e_id = {p('e_id')})")
        if not quota:
            if d.is_postgresql:
                return (f"WITH claimed AS ({claim}\n  RETURNING key)\n{queue} FROM claimed {queued}",)
            return (claim, f"{queue} WHERE {claimed} {queued}")
        if d.is_postgresql:
            take = self._take(", ".join(QUOTA_COLUMNS[1:]), "granted")
            granted_claim = claim.replace(f"WHERE {self._gates_hold}",
                                          f"WHERE {self._gates_hold} AND EXISTS (SELECT 1 FROM taken WHERE granted = 1)")
            return (f"""WITH taken AS ({take}), claimed AS ({granted_claim}
  RETURNING key), queued AS ({queue} FROM claimed RETURNING e_id)
SELECT (SELECT e_id FROM queued) AS e_id{suffix}, {_returned('taken.', suffix)}
FROM (SELECT 1) AS seed LEFT JOIN taken ON true""",)
        granted = (f"EXISTS (SELECT 1 FROM {QUOTAS.name} WHERE tenant_id = {p('tenant_id')}"
                   f" AND granted_to = {p('e_id')})")
        granted_claim = claim.replace(f"WHERE {self._gates_hold}", f"WHERE {self._gates_hold} AND {granted}")
        take = self._take(_returned("", suffix, skip_granted=True), f"quota_granted{suffix}")
        return (take, granted_claim, f"{queue} WHERE {claimed} {queued}")

    def _take(self, returning: str, granted_as: str) -> str:
        """One send's token and one of the day's quota, from the tenant's bucket (created full on its
        first send) — only while the send's gates hold and its key is free, so a send that will not
        be queued takes nothing; granted_to names the job it was granted to (or NULL: refused)."""
        d, p, q = self._d, self._d.param, QUOTAS.name
        rate, burst, per_day = d.cast("q_rate", "float8"), d.cast("q_burst", "integer"), d.cast("q_per_day", "bigint")
        avail = d.least(f"COALESCE({q}.burst, {burst})",
                        f"{q}.tokens + {d.greatest('0', f'excluded.refilled_at - {q}.refilled_at')}"
                        f" * COALESCE({q}.sends_per_second, {rate})")
        used = f"CASE WHEN {q}.day = excluded.day THEN {q}.day_count ELSE 0 END"
        ok = f"({avail} >= 1 AND {used} + 1 <= COALESCE({q}.sends_per_day, {per_day}))"
        key_free = (f"NOT EXISTS (SELECT 1 FROM {RECORDS.name} r WHERE r.tenant_id = {p('tenant_id')}"
                    f" AND r.namespace = {p(RECORD_PREFIX + 'namespace')} AND r.key = {p(RECORD_PREFIX + 'key')}"
                    f" AND r.expires_at > {p(RECORD_PREFIX + 'created_at')})")
        return f"""INSERT INTO {q} (tenant_id, tokens, refilled_at, day, day_count, granted_to)
SELECT {d.typed_param('tenant_id', QUOTAS, 'tenant_id')}, {burst} - 1, {d.cast('q_now', 'float8')}, {d.cast('q_day', 'integer')}, 1,
  {d.typed_param('e_id', QUOTAS, 'granted_to')}
WHERE {self._gates_hold} AND {key_free}
ON CONFLICT (tenant_id) DO UPDATE SET
  tokens = {avail} - CASE WHEN {ok} THEN 1 ELSE 0 END,
  refilled_at = {d.greatest(f'{q}.refilled_at', 'excluded.refilled_at')},
  day = excluded.day,
  day_count = {used} + CASE WHEN {ok} THEN 1 ELSE 0 END,
  granted_to = CASE WHEN {ok} THEN excluded.granted_to ELSE NULL END
RETURNING CASE WHEN granted_to = {p('e_id')} THEN 1 ELSE 0 END AS {granted_as}, {returning}"""


#: what a take answers, as the row's columns
QUOTA_COLUMNS = ("granted", "tokens", "day_count", "sends_per_second", "burst", "sends_per_day")


def _returned(source: str, suffix: str, *, skip_granted: bool = False) -> str:
    return ", ".join(f"{source}{c} AS quota_{c}{suffix}" for c in QUOTA_COLUMNS if not (skip_granted and c == "granted"))


def _quota_params(take: QuotaTake) -> dict[str, Any]:
    return {"q_rate": take.defaults.sends_per_second, "q_burst": take.defaults.burst,
            "q_per_day": take.defaults.sends_per_day, "q_now": take.now.timestamp(),
            "q_day": int(take.now.timestamp() // SECONDS_PER_DAY)}


def _quota_refusal(take: QuotaTake, row: dict[str, Any], suffix: str = "") -> QuotaExceeded | None:
    """The refusal when the take was refused (None: granted, or not taken: the gates did not hold)."""
    if row.get(f"quota_granted{suffix}") != 0:
        return None
    limits = TenantLimits(row[f"quota_sends_per_second{suffix}"], row[f"quota_burst{suffix}"],
                          row[f"quota_sends_per_day{suffix}"]).over(take.defaults)
    return QuotaExceeded(limits, tokens=float(row[f"quota_tokens{suffix}"]),
                         day_count=int(row[f"quota_day_count{suffix}"]), now=take.now)


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
        texts = self._sql.queue_unit(quota=quota is not None)
        extra = _quota_params(quota) if quota is not None else {}
        per_item = []
        for item in items:
            per_item.append({
                "configuration_version": item.configuration_version, **extra,
                **self._records.params(idempotency_rows.to_row(item.job.tenant_id, namespace, item.record)),
                **self._jobs.params(job_rows.to_row(item.job)),
            })
        # item after item, each its statements in order (SQLite's take → claim → queue of one item use
        # the bucket's granted_to between them); PostgreSQL's is one statement: a run of one text
        unit = [Statement(sql, params) for params in per_item for sql in texts]
        unit[-1] = Statement(unit[-1].sql, unit[-1].params, wakes=self._wakes)  # the batch wakes dispatch once
        try:
            rows = await self._commit.run_committed_rows(*unit)
        except psycopg.errors.LockNotAvailable as exc:
            raise IdempotencyInFlight() from exc
        outcomes: list[bool | QuotaExceeded] = []
        for i in range(len(items)):
            row: dict[str, Any] = {}
            for step in range(len(texts)):
                row.update(rows[i * len(texts) + step] or {})
            refused = _quota_refusal(quota, row) if quota is not None else None
            outcomes.append(refused if refused is not None else row.get("e_id") is not None)
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
