"""``job_envelope`` builds the job's JSON by hand (it runs once per accepted send); it must be exactly
what the declared response model, ``JobEnvelope``, gives for the same job — keys, order, values."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tenantmail.domain.job import EmailJob, JobError, JobStatus
from tenantmail.entrypoints.api.schemas import AsOf, RecordMetadata
from tenantmail.entrypoints.api.schemas_job import JobEnvelope, JobErrorOut, JobOut, job_envelope

T0 = datetime(2026, 11, 28, 9, 30, 15, 123456, tzinfo=UTC)


def queued(**changes: object) -> EmailJob:
    job = EmailJob.queue(tenant_id="acme", configuration_e_id="cfg-1", recipient="ann@example.com",
                         subject="Receipt", idempotency_key="k1", now=T0, author="billing", text_body="hi")
    for name, value in changes.items():
        setattr(job, name, value)
    return job


def through_the_models(job: EmailJob) -> dict[str, object]:
    updated = job.updated_at or job.created_at
    assert updated is not None
    err = job.last_error
    built = job_envelope(job)
    return JobEnvelope(
        eId=job.e_id, rId=built["rId"],
        asOf=AsOf(effectiveFrom=int(updated.timestamp() * 1000), recordedFrom=int(updated.timestamp() * 1000)),
        payload=JobOut(
            eId=job.e_id, configurationEId=job.configuration_e_id, recipient=job.recipient, replyToEmail=job.reply_to_email,
            fromLocalPart=job.from_local_part, subject=job.subject, tag=job.tag, metadata=job.metadata,
            htmlSanitized=job.html_sanitized, status=job.status.value, messageId=job.message_id,
            attempts=job.attempts,
            lastError=JobErrorOut(class_=err.error_class, code=err.code, message=err.message) if err else None,
            createdAt=job.created_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if job.created_at else None,
            updatedAt=updated.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        ),
        metadata=RecordMetadata(tenantId=job.tenant_id, author=job.author),
    ).model_dump(mode="json", by_alias=True)


@pytest.mark.parametrize("job", [
    queued(),
    queued(reply_to_email="support@acme.test", updated_at=None),
    queued(from_local_part="billing"),
    queued(tag="welcome", metadata={"orderId": "A-1", "plan": "pro"}, html_sanitized=True),
    queued(status=JobStatus.SENT, message_id="0a1b-2c3d", attempts=1, updated_at=T0 + timedelta(seconds=2)),
    queued(status=JobStatus.FAILED, attempts=3, updated_at=T0 + timedelta(hours=1),
           last_error=JobError("permanent", "300", "Invalid 'To' address: \"x\"")),
], ids=["queued", "reply-to-no-update", "from-local-part", "tag-metadata", "sent", "failed-with-error"])
def test_job_envelope_is_the_declared_model_dumped(job: EmailJob) -> None:
    built = job_envelope(job)
    assert built == through_the_models(job)
    assert json.dumps(built) == json.dumps(through_the_models(job))  # same key order: same bytes on the wire
    JobEnvelope.model_validate(built)


def test_the_rid_changes_with_the_jobs_state_and_only_then() -> None:
    job = queued()
    first = job_envelope(job)["rId"]
    assert job_envelope(job)["rId"] == first
    job.mark_sent("m-1", T0 + timedelta(seconds=1))
    assert job_envelope(job)["rId"] != first
