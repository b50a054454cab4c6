"""Job shapes of the API (SPEC §2 job fields, §4 record envelope, §5 POST /job body)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tenantmail.domain.job import EmailJob, JobAttachment
from tenantmail.domain.header_text import PATTERN as HEADER_TEXT
from tenantmail.domain.job_fields import (
    MAX_METADATA_KEY_CHARS, MAX_METADATA_PAIRS, MAX_METADATA_VALUE_CHARS, MAX_TAG_CHARS,
)
from tenantmail.domain.send_request import ADDRESS_PATTERN, MAX_SUBJECT_CHARS, SendRequest
from tenantmail.entrypoints.api.schemas import PAYLOAD_EID, RecordEnvelope, epoch_ms, iso

#: rIds of jobs are derived from the job's state: a job keeps no history table, but a changed job
#: gets a new rId, so callers can tell two reads of it apart.
JOB_VERSION_NAMESPACE = uuid.UUID("5b0c1f2e-7d0a-4c55-9b8e-3f1f4b6a9e21")


class AttachmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255)
    contentType: str = Field(min_length=3, max_length=255, examples=["application/pdf"])
    contentBase64: str = Field(min_length=1, repr=False)


class SendIn(BaseModel):
    """The body of ``POST /job``."""

    model_config = ConfigDict(extra="forbid")

    configurationEId: str = Field(min_length=1, max_length=36)
    recipient: str = Field(min_length=3, max_length=320, examples=["customer@example.com"],
                           json_schema_extra={"pattern": ADDRESS_PATTERN})
    replyToEmail: str | None = Field(default=None, max_length=320, json_schema_extra={"pattern": ADDRESS_PATTERN})
    fromLocalPart: str | None = Field(
        default=None, min_length=1, max_length=64, examples=["billing"],
        description="The From's local part; one of the configuration's allowedFromLocalParts "
        "(400 otherwise). Default: the configuration's signature.fromLocalPart.",
    )
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT_CHARS, json_schema_extra={"pattern": HEADER_TEXT})
    htmlBody: str | None = Field(default=None, repr=False)
    textBody: str | None = Field(default=None, repr=False)
    attachments: list[AttachmentIn] = Field(default_factory=list)
    tag: str | None = Field(default=None, max_length=MAX_TAG_CHARS, examples=["welcome"],
                            description="Your label for the send; filterable (`GET /job?tag=`). Sent to Postmark as Tag.")
    metadata: dict[str, str] | None = Field(
        default=None, examples=[{"orderId": "A-1001"}],
        description=f"Up to {MAX_METADATA_PAIRS} string pairs (keys ≤ {MAX_METADATA_KEY_CHARS} characters, values ≤ "
        f"{MAX_METADATA_VALUE_CHARS}; keys starting with `tm_` are reserved); filterable (`GET /job?metadata.{{key}}=`). "
        "Sent to Postmark as Metadata beside tm_job and tm_config.",
    )

    def to_request(self, html_policy: str = "reject") -> SendRequest:
        return SendRequest.parse(
            html_policy=html_policy,
            configuration_e_id=self.configurationEId, recipient=self.recipient, subject=self.subject,
            reply_to_email=self.replyToEmail, html_body=self.htmlBody, text_body=self.textBody,
            from_local_part=self.fromLocalPart, tag=self.tag, metadata=self.metadata,
            attachments=tuple(JobAttachment(a.filename, a.contentType, a.contentBase64) for a in self.attachments),
        )


class BatchMessageIn(SendIn):
    """One message of ``POST /job/batch``: the body of ``POST /job`` and its own key."""

    idempotencyKey: str = Field(min_length=1, max_length=255, description="As the Idempotency-Key header of POST /job.")


class BatchIn(BaseModel):
    """The body of ``POST /job/batch``. Each message is checked on its own (a malformed one fails
    only itself), so they are read as objects here and as :class:`BatchMessageIn` one by one."""

    model_config = ConfigDict(extra="forbid")

    messages: list[dict[str, Any]] = Field(
        description="Up to 500 messages (413 beyond), each a POST /job body plus `idempotencyKey`.",
        json_schema_extra=lambda schema: schema.update(items=_message_schema()),
    )


def _message_schema() -> dict[str, Any]:
    """BatchMessageIn's JSON schema, self-contained (its nested models inlined), for the docs."""
    schema = BatchMessageIn.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(schema)  # type: ignore[no-any-return]


class ItemErrorOut(BaseModel):
    error: str
    message: str
    details: dict[str, Any] | None = None


class BatchItemOut(BaseModel):
    index: int = Field(description="The message's position in `messages`.")
    status: int = Field(description="What POST /job would have answered for it: 202, or the error's status.")
    eId: str | None = Field(default=None, description="The job (queued now, or by the first request with the key).")
    replayed: bool | None = Field(default=None, description="true: the answer of an earlier request with this key.")
    error: ItemErrorOut | None = None


class BatchOut(BaseModel):
    results: list[BatchItemOut]


class JobErrorOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    class_: str = Field(alias="class")
    code: str
    message: str


class JobOut(BaseModel):
    eId: str = Field(description=PAYLOAD_EID)
    configurationEId: str
    recipient: str
    replyToEmail: str | None
    fromLocalPart: str | None = Field(description="The local part the send chose; null: the configuration's.")
    subject: str
    tag: str | None
    metadata: dict[str, str] = Field(description="The caller's pairs ({} when none); tm_job / tm_config are not listed.")
    htmlSanitized: bool = Field(description="The htmlBody sent is the sanitizer's output (TENANTMAIL_HTML_POLICY=sanitize).")
    status: str
    messageId: str | None
    attempts: int
    lastError: JobErrorOut | None
    createdAt: str | None
    updatedAt: str | None


JobEnvelope = RecordEnvelope[JobOut]


def job_envelope(job: EmailJob) -> dict[str, Any]:
    """The job as the API answers it (and as POST /job stores it for idempotent replay).

    Built as the plain JSON of :data:`JobEnvelope` (``model_dump(mode="json", by_alias=True)``),
    without constructing the models: this runs once per accepted send. A unit test holds the two
    to the same output."""
    err = job.last_error
    updated = job.updated_at or job.created_at
    assert updated is not None
    r_id = uuid.uuid5(JOB_VERSION_NAMESPACE, f"{job.e_id}|{job.status}|{job.attempts}|{updated.isoformat()}")
    at = epoch_ms(updated)
    return {
        "eId": job.e_id, "rId": str(r_id), "asOf": {"effectiveFrom": at, "recordedFrom": at},
        "payload": {
            "eId": job.e_id, "configurationEId": job.configuration_e_id, "recipient": job.recipient,
            "replyToEmail": job.reply_to_email, "fromLocalPart": job.from_local_part,
            "subject": job.subject, "tag": job.tag, "metadata": dict(job.metadata),
            "htmlSanitized": job.html_sanitized, "status": job.status.value,
            "messageId": job.message_id, "attempts": job.attempts,
            "lastError": {"class": err.error_class, "code": err.code, "message": err.message} if err else None,
            "createdAt": iso(job.created_at), "updatedAt": iso(updated),
        },
        "metadata": {"tenantId": job.tenant_id, "author": job.author},
    }
