"""An email job and its status (SPEC §5, §6).

    QUEUED → SENDING → SENT → DELIVERED / BOUNCED / COMPLAINED
                     ↘ FAILED (permanent)     CANCELLED (force-lock)     INCONSISTENT (§6)

Delivery events only move a job toward "more concerning" (``SEVERITY``); an event implying a
less concerning status than the current one marks the job INCONSISTENT for triage.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "QUEUED"  #: accepted, waiting for a worker (the outbox)
    SENDING = "SENDING"  #: claimed by a worker; the Postmark call may be under way
    SENT = "SENT"  #: Postmark accepted it; MessageID stored
    DELIVERED = "DELIVERED"  #: the receiving server accepted it
    BOUNCED = "BOUNCED"  #: permanently bounced; recipient suppressed
    COMPLAINED = "COMPLAINED"  #: marked as spam; recipient suppressed
    FAILED = "FAILED"  #: will never be sent (permanent error or retries exhausted)
    CANCELLED = "CANCELLED"  #: force-lock cancelled it before it reached Postmark
    INCONSISTENT = "INCONSISTENT"  #: events contradict each other; kept for triage


#: Delivery outcomes ordered from least to most concerning.
SEVERITY: tuple[JobStatus, ...] = (
    JobStatus.SENT, JobStatus.DELIVERED, JobStatus.BOUNCED, JobStatus.COMPLAINED,
)
TERMINAL = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})
PENDING = frozenset({JobStatus.QUEUED, JobStatus.SENDING})


@dataclass(frozen=True)
class JobError:
    error_class: str
    code: str
    message: str


@dataclass(frozen=True)
class JobAttachment:
    filename: str
    content_type: str
    content_base64: str = field(repr=False)


@dataclass
class EmailJob:
    e_id: str
    tenant_id: str
    configuration_e_id: str
    recipient: str
    subject: str
    idempotency_key: str
    author: str = "unknown"  #: who queued it (X-Author)
    reply_to_email: str | None = None
    from_local_part: str | None = None  #: the From's local part the send chose; None: the configuration's
    html_body: str | None = field(default=None, repr=False)
    text_body: str | None = field(default=None, repr=False)
    attachments: tuple[JobAttachment, ...] = field(default=(), repr=False)
    status: JobStatus = JobStatus.QUEUED
    message_id: str | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: JobError | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    status_times: dict[str, datetime] = field(default_factory=dict)
    tag: str | None = None  #: the caller's label, sent to Postmark as ``Tag``
    metadata: dict[str, str] = field(default_factory=dict)  #: the caller's pairs, sent beside ``tm_*``
    html_sanitized: bool = False  #: htmlBody is the sanitizer's output, not what the caller sent

    @classmethod
    def queue(
        cls, *, tenant_id: str, configuration_e_id: str, recipient: str, subject: str,
        idempotency_key: str, now: datetime, author: str = "unknown", reply_to_email: str | None = None,
        html_body: str | None = None, text_body: str | None = None,
        attachments: tuple[JobAttachment, ...] = (), from_local_part: str | None = None,
        tag: str | None = None, metadata: dict[str, str] | None = None, html_sanitized: bool = False,
    ) -> EmailJob:
        job = cls(
            e_id=str(uuid.uuid4()), tenant_id=tenant_id, configuration_e_id=configuration_e_id,
            recipient=recipient, subject=subject, idempotency_key=idempotency_key, author=author,
            reply_to_email=reply_to_email, from_local_part=from_local_part,
            html_body=html_body, text_body=text_body,
            attachments=attachments, next_attempt_at=now, created_at=now, updated_at=now,
            tag=tag, metadata=dict(metadata or {}), html_sanitized=html_sanitized,
        )
        job.status_times[JobStatus.QUEUED] = now
        return job

    def move(self, status: JobStatus, now: datetime) -> None:
        self.status = status
        self.updated_at = now
        self.status_times.setdefault(status, now)

    # --- dispatch outcomes (SPEC §5); each one is committed before the next Postmark call ---
    def mark_sent(self, message_id: str, now: datetime) -> None:
        """Postmark accepted it (answered, or found by the ``tm_job`` metadata search)."""
        self.message_id = message_id
        self.last_error = None
        self.next_attempt_at = None
        self.move(JobStatus.SENT, now)

    def fail(self, error: JobError, now: datetime) -> None:
        """It will never be sent: a permanent refusal, or retried for too long."""
        self.last_error = error
        self.next_attempt_at = None
        self.move(JobStatus.FAILED, now)

    def requeue(self, error: JobError | None, at: datetime, now: datetime) -> None:
        """Back to the outbox until ``at``: a transient error, or its configuration is held."""
        self.last_error = error
        self.next_attempt_at = at
        self.status = JobStatus.QUEUED
        self.updated_at = now

    @property
    def needs_reconciliation(self) -> bool:
        """The last call may have reached Postmark: search by metadata before sending again."""
        return self.last_error is not None and self.last_error.error_class == "ambiguous"


def project(current: JobStatus, implied: JobStatus) -> JobStatus:
    """The status a job takes when an event implies ``implied`` while it is ``current``.

    Monotonic toward more concerning. A job still QUEUED/SENDING (the event raced the worker's
    commit) takes the implied status. An event implying a less concerning status than an outcome
    already recorded marks the job INCONSISTENT; INCONSISTENT, FAILED and CANCELLED never move.
    """
    if current in (JobStatus.INCONSISTENT, *TERMINAL):
        return current
    if current in PENDING:
        return implied
    if SEVERITY.index(implied) < SEVERITY.index(current):
        return JobStatus.INCONSISTENT
    return implied


def canonical_recipient(address: str) -> str:
    """Trim and lower-case: the form recipients are stored, compared and suppressed in."""
    return address.strip().lower()
