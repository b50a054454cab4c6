"""Email jobs (the outbox): tenant-scoped reads and writes of :class:`EmailJob`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import JSONB

from tenantmail.adapters.db.repositories.base import TenantRepository
from tenantmail.adapters.db.tables import jobs
from tenantmail.domain.errors import NotFound
from tenantmail.domain.job import EmailJob, JobAttachment, JobError, JobStatus
from tenantmail.domain.job_search import COUNT_UP_TO, JobSearch


def to_row(job: EmailJob) -> dict[str, Any]:
    err = job.last_error
    return {
        "e_id": job.e_id, "tenant_id": job.tenant_id, "configuration_e_id": job.configuration_e_id,
        "recipient": job.recipient, "reply_to_email": job.reply_to_email,
        "from_local_part": job.from_local_part, "subject": job.subject,
        "html_body": job.html_body, "text_body": job.text_body,
        "attachments": [
            {"filename": a.filename, "contentType": a.content_type, "contentBase64": a.content_base64}
            for a in job.attachments
        ] or None,
        "idempotency_key": job.idempotency_key, "author": job.author, "status": job.status.value,
        "message_id": job.message_id, "attempts": job.attempts, "next_attempt_at": job.next_attempt_at,
        "last_error_class": err.error_class if err else None,
        "last_error_code": err.code if err else None,
        "last_error_message": err.message if err else None,
        "status_times": {str(k): v.isoformat() for k, v in job.status_times.items()},
        "created_at": job.created_at, "updated_at": job.updated_at,
        "tag": job.tag, "job_metadata": job.metadata or None, "html_sanitized": job.html_sanitized,
    }


#: The columns a dispatch outcome changes (the lease is cleared by any outcome).
OUTCOME_COLUMNS = (
    "status", "message_id", "attempts", "next_attempt_at", "last_error_class", "last_error_code",
    "last_error_message", "status_times", "updated_at",
)


def to_domain(row: Any) -> EmailJob:
    return from_mapping(row._mapping)


def from_mapping(m: Mapping[str, Any]) -> EmailJob:
    err = None
    if m["last_error_class"] is not None:
        err = JobError(m["last_error_class"], m["last_error_code"] or "", m["last_error_message"] or "")
    return EmailJob(
        e_id=m["e_id"], tenant_id=m["tenant_id"], configuration_e_id=m["configuration_e_id"],
        recipient=m["recipient"], subject=m["subject"], idempotency_key=m["idempotency_key"],
        author=m["author"],
        reply_to_email=m["reply_to_email"], from_local_part=m.get("from_local_part"),
        html_body=m["html_body"], text_body=m["text_body"],
        attachments=tuple(
            JobAttachment(a["filename"], a["contentType"], a["contentBase64"]) for a in m["attachments"] or ()
        ),
        status=JobStatus(m["status"]), message_id=m["message_id"], attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"], last_error=err,
        created_at=m["created_at"], updated_at=m["updated_at"],
        status_times={k: datetime.fromisoformat(v) for k, v in (m["status_times"] or {}).items()},
        tag=m.get("tag"), metadata=dict(m.get("job_metadata") or {}), html_sanitized=bool(m.get("html_sanitized")),
    )


#: Built once: a statement made per call costs more CPU (construction, cache key) than its round trip.
#: The columns written come from the parameters; the row is named by the ``row_*`` ones.
INSERT_JOB = insert(jobs)
UPDATE_JOB = update(jobs).where(jobs.c.tenant_id == bindparam("row_tenant_id"), jobs.c.e_id == bindparam("row_e_id"))


class JobRepository(TenantRepository):
    table = jobs

    async def add(self, job: EmailJob) -> None:
        await self._conn.execute(INSERT_JOB, to_row(job))

    async def get(self, e_id: str) -> EmailJob:
        row = (await self._conn.execute(self._select().where(jobs.c.e_id == e_id))).first()
        if row is None:
            raise NotFound("job", e_id)
        return to_domain(row)

    async def find(self, e_id: str) -> EmailJob | None:
        row = (await self._conn.execute(self._select().where(jobs.c.e_id == e_id))).first()
        return to_domain(row) if row else None

    async def get_many(self, e_ids: Sequence[str]) -> list[EmailJob]:
        """The jobs with these ids (in no particular order; unknown ids are left out)."""
        rows = await self._conn.execute(self._select().where(jobs.c.e_id.in_(list(e_ids))))
        return [to_domain(r) for r in rows]

    async def save(self, job: EmailJob) -> None:
        values = to_row(job)
        for key in ("e_id", "tenant_id", "created_at"):
            values.pop(key)
        await self._conn.execute(UPDATE_JOB, {**values, "row_tenant_id": self.tenant_id, "row_e_id": job.e_id})

    async def still_sending(self, e_ids: Sequence[str]) -> set[str]:
        """Those of ``e_ids`` still SENDING, locked until the transaction ends (PostgreSQL; SQLite's
        writer lock already excludes every other change), so ``save_outcomes`` applies to exactly them."""
        if not e_ids:
            return set()
        stmt = select(jobs.c.e_id).where(self._tenant(), jobs.c.e_id.in_(list(e_ids)),
                                         jobs.c.status == JobStatus.SENDING.value)
        if self._conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return set((await self._conn.execute(stmt)).scalars())

    async def save_outcomes(self, changed: Sequence[EmailJob]) -> None:
        """Persist what dispatch changed on many jobs in one executemany round trip.

        Only a job still SENDING takes the outcome: a delivery event can arrive (and be
        projected) before the dispatcher commits what Postmark answered, and that more advanced
        status must not be overwritten. The MessageID (found by the dispatch answer or by the
        ambiguous-outcome search) and the attempt count are kept in every case (SPEC §14).
        """
        if not changed:
            return
        still_sending = jobs.c.status == JobStatus.SENDING.value
        def new(column: str) -> Any:
            return bindparam(f"v_{column}", type_=jobs.c[column].type)

        values: dict[str, Any] = {
            column: case((still_sending, new(column)), else_=jobs.c[column]) for column in OUTCOME_COLUMNS
        }
        values["message_id"] = func.coalesce(new("message_id"), jobs.c.message_id)
        # the call happened whatever a webhook did meanwhile: attempts never go down, never get lost
        values["attempts"] = case((still_sending | (new("attempts") > jobs.c.attempts), new("attempts")),
                                  else_=jobs.c.attempts)
        stmt = (
            update(jobs)
            .where(jobs.c.tenant_id == self.tenant_id, jobs.c.e_id == bindparam("job_e_id"))
            .values(values)
        )
        rows = []
        for job in changed:
            row = to_row(job)
            rows.append({"job_e_id": job.e_id, **{f"v_{column}": row[column] for column in OUTCOME_COLUMNS}})
        await self._conn.execute(stmt, rows)

    async def list(
        self, search: JobSearch | None = None, *, limit: int = 50, offset: int = 0,
        count_up_to: int | None = COUNT_UP_TO,
    ) -> tuple[list[EmailJob], int]:
        """One page of the tenant's jobs matching ``search``, newest first, and how many match —
        counted up to ``count_up_to`` (more: ``count_up_to + 1``; None: counted exactly)."""
        c = jobs.c
        search = search or JobSearch()
        stmt = self._matching(
            c.status.in_([s.value for s in search.statuses]) if search.statuses else None,
            c.recipient == search.recipient if search.recipient else None,
            c.configuration_e_id == search.configuration_e_id if search.configuration_e_id else None,
            c.tag == search.tag if search.tag is not None else None,
            c.message_id == search.message_id if search.message_id else None,
            c.subject.ilike(f"%{_like_escaped(search.subject_contains)}%", escape="\\")
            if search.subject_contains else None,
            self._has_metadata(search.metadata) if search.metadata else None,
            c.created_at >= search.created_from if search.created_from else None,
            c.created_at < search.created_to if search.created_to else None,
        )
        rows, total = await self._page(stmt, (c.created_at.desc(), c.e_id), limit, offset, count_up_to=count_up_to)
        return [to_domain(r) for r in rows], total

    def _has_metadata(self, pairs: Mapping[str, str]) -> ColumnElement[bool]:
        """Every pair among the job's metadata: jsonb containment on PostgreSQL (its GIN index),
        ``json_each`` on SQLite."""
        if self._conn.dialect.name == "postgresql":
            return jobs.c.job_metadata.op("@>")(bindparam(None, dict(pairs), type_=JSONB))
        found = []
        for key, value in pairs.items():
            entry = func.json_each(jobs.c.job_metadata).table_valued("key", "value")
            found.append(exists().select_from(entry).where(entry.c.key == key, entry.c.value == value))
        return and_(*found)

    async def park_queued(self, configuration_e_id: str, until: datetime) -> int:
        """Make every QUEUED job of a configuration due no sooner than ``until`` (it cannot send)."""
        return await self._reschedule_queued(configuration_e_id, until, jobs.c.next_attempt_at < until)

    async def release_parked(self, configuration_e_id: str, now: datetime) -> int:
        """Make every QUEUED job of a configuration due now (it can send again); return how many."""
        return await self._reschedule_queued(configuration_e_id, now, jobs.c.next_attempt_at > now)

    async def _reschedule_queued(self, configuration_e_id: str, at: datetime, which: ColumnElement[bool]) -> int:
        """One statement over ``ix_email_jobs_configuration``, this tenant's jobs only."""
        result = await self._conn.execute(
            update(jobs)
            .where(self._tenant(), jobs.c.configuration_e_id == configuration_e_id,
                   jobs.c.status == JobStatus.QUEUED.value, which)
            .values(next_attempt_at=at)
        )
        return result.rowcount or 0

    async def cancel_queued(self, configuration_e_id: str, now: datetime) -> list[str]:
        """Cancel every QUEUED job of a configuration at once (force-lock); return their eIds.

        Jobs already SENDING are in a worker's hands and are left alone here.
        """
        stmt = self._select().where(
            jobs.c.configuration_e_id == configuration_e_id, jobs.c.status == JobStatus.QUEUED.value
        )
        queued = [to_domain(r) for r in await self._conn.execute(stmt)]
        for job in queued:
            job.next_attempt_at = None
            job.move(JobStatus.CANCELLED, now)
            await self.save(job)
        return [job.e_id for job in queued]


def _like_escaped(text: str | None) -> str:
    """``text`` matched literally inside a LIKE pattern (escape character ``\\``)."""
    return (text or "").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
