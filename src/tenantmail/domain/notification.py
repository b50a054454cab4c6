"""Notifications to the calling service (SPEC §17): endpoints, event types, signing, URL rules.

A change that a calling service cares about (a job's outcome, a suppression, a configuration
transition) is written to an outbox *in the same transaction as the change*, one row per
interested endpoint, and delivered at least once, signed as Standard Webhooks:

    webhook-id         msg_<32 hex>: the same for every attempt (and for every endpoint)
    webhook-timestamp  seconds since the epoch, of the attempt
    webhook-signature  v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}"> — one per secret,
                       space-separated, while a rotated-out secret is still honoured

The secret is ``whsec_`` + base64 of 24 random bytes; the HMAC key is the decoded bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets as random_secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from tenantmail.domain.errors import InvalidInput
from tenantmail.domain.job import JobStatus


class NotificationType(StrEnum):
    JOB_SENT = "job.sent"  #: Postmark accepted the job
    JOB_DELIVERED = "job.delivered"  #: the receiving server accepted it (webhook)
    JOB_BOUNCED = "job.bounced"  #: permanently bounced (webhook)
    JOB_COMPLAINED = "job.complained"  #: marked as spam (webhook)
    JOB_FAILED = "job.failed"  #: will never be sent
    JOB_CANCELLED = "job.cancelled"  #: force-lock cancelled it
    JOB_INCONSISTENT = "job.inconsistent"  #: events contradicted each other
    SUPPRESSION_ADDED = "suppression.added"
    SUPPRESSION_REMOVED = "suppression.removed"
    CONFIGURATION_CHANGED = "configuration.changed"  #: a lifecycle state or an edit


#: The notification a job's new status causes; statuses absent here notify nothing.
FOR_JOB_STATUS: Mapping[JobStatus, NotificationType] = {
    JobStatus.SENT: NotificationType.JOB_SENT,
    JobStatus.DELIVERED: NotificationType.JOB_DELIVERED,
    JobStatus.BOUNCED: NotificationType.JOB_BOUNCED,
    JobStatus.COMPLAINED: NotificationType.JOB_COMPLAINED,
    JobStatus.FAILED: NotificationType.JOB_FAILED,
    JobStatus.CANCELLED: NotificationType.JOB_CANCELLED,
    JobStatus.INCONSISTENT: NotificationType.JOB_INCONSISTENT,
}


#: Outcomes that mean Postmark accepted the job. A job that reaches one before its SENT was recorded
#: (the webhook raced the dispatcher's commit, which then finds the job moved and records nothing)
#: notifies ``job.sent`` first, so every sent job's receiver sees ``job.sent`` before its outcome.
IMPLIES_SENT = frozenset({JobStatus.DELIVERED, JobStatus.BOUNCED, JobStatus.COMPLAINED})


class SubjectKind(StrEnum):
    JOB = "job"
    SUPPRESSION = "suppression"
    CONFIGURATION = "configuration"


def subject_kind(kind: NotificationType) -> SubjectKind:
    return SubjectKind(kind.value.split(".", 1)[0])


def new_message_id() -> str:
    """A ``webhook-id``: unique per event, the same for its every attempt and endpoint."""
    return f"msg_{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Notification:
    """One event to tell the tenant's endpoints about (the outbox fans it out per endpoint)."""

    message_id: str
    type: NotificationType
    subject_id: str  #: the job's eId, the suppression entry's id, the configuration's eId
    occurred_at: datetime

    @classmethod
    def of(cls, type_: NotificationType, subject_id: str, now: datetime) -> Notification:
        return cls(new_message_id(), type_, subject_id, now)


# --- event-type filters ------------------------------------------------------------------------
#: Stored as ",a,b," (empty: every type), so "does it want t" is one ``LIKE '%,t,%'`` in SQL.
def encode_types(types: Iterable[NotificationType]) -> str:
    chosen = sorted({t.value for t in types})
    return f",{','.join(chosen)}," if chosen else ""


def decode_types(text: str | None) -> tuple[NotificationType, ...]:
    return tuple(NotificationType(t) for t in (text or "").split(",") if t)


# --- secrets and signatures --------------------------------------------------------------------
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
#: How long a rotated-out secret still signs (both signatures are sent meanwhile).
PREVIOUS_SECRET_GRACE = timedelta(hours=24)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(random_secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (Standard Webhooks: the base64 part, decoded)."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(signature(s, message_id, timestamp, body) for s in secrets)


def signature_matches(secret: str, message_id: str, timestamp: int, body: bytes, header: str) -> bool:
    """Whether any ``v1`` signature in ``header`` is ours, compared in constant time (an early
    exit only tells which of the listed signatures matched, never anything about the secret)."""
    expected = signature(secret, message_id, timestamp, body).encode()
    return any(hmac.compare_digest(expected, part.encode()) for part in header.split() if part.startswith("v1,"))


# --- endpoint URLs -----------------------------------------------------------------------------
MAX_URL = 2048
_PRIVATE_NAMES = ("localhost", ".localhost", ".local", ".internal", ".home.arpa")


def validate_url(url: str, *, live: bool) -> str:
    """The URL an endpoint may have (InvalidInput otherwise): http(s), at most 2,048 characters,
    with a host; in a live partition https only and never a loopback, private, link-local or
    reserved address (nor a name that can only be local). DNS is not resolved here."""
    if len(url) > MAX_URL:
        raise InvalidInput(f"url: at most {MAX_URL} characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise InvalidInput("url: no spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise InvalidInput(f"url: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("url: must be http(s)")
    if not host:
        raise InvalidInput("url: must name a host")
    if parts.username or parts.password:
        raise InvalidInput("url: credentials in the URL are not accepted")
    if live:
        if parts.scheme != "https":
            raise InvalidInput("url: must be https in a live partition")
        if _is_private_host(host):
            raise InvalidInput("url: must be a public address in a live partition")
    return url


def _is_private_host(host: str) -> bool:
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(_PRIVATE_NAMES):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return "." not in name  # a bare name resolves only on a local network
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


# --- endpoints ---------------------------------------------------------------------------------
class DisabledReason(StrEnum):
    OPERATOR = "operator"  #: PATCH enabled=false
    GONE = "gone"  #: the receiver answered 410 Gone
    FAILING = "failing"  #: every attempt failed for ``FAILING_WINDOW``


#: An endpoint whose attempts have all failed for this long is disabled (SPEC §17).
FAILING_WINDOW = timedelta(hours=24)


@dataclass
class NotificationEndpoint:
    e_id: str
    tenant_id: str
    url: str
    event_types: tuple[NotificationType, ...] = ()  #: empty: every type
    description: str = ""
    enabled: bool = True
    secret: str = field(default="", repr=False)
    previous_secret: str | None = field(default=None, repr=False)
    previous_secret_until: datetime | None = None
    failing_since: datetime | None = None
    disabled_reason: DisabledReason | None = None
    disabled_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def new(cls, *, tenant_id: str, url: str, event_types: Iterable[NotificationType], description: str,
            enabled: bool, live: bool, now: datetime) -> NotificationEndpoint:
        endpoint = cls(
            e_id=str(uuid.uuid4()), tenant_id=tenant_id, url=validate_url(url, live=live),
            event_types=tuple(sorted(set(event_types))), description=description, enabled=True,
            secret=new_secret(), created_at=now, updated_at=now,
        )
        if not enabled:
            endpoint.disable(DisabledReason.OPERATOR, now)
        return endpoint

    def wants(self, kind: NotificationType) -> bool:
        return not self.event_types or kind in self.event_types

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets that sign now: the current one, and the previous one during its grace."""
        found = [self.secret]
        if self.previous_secret and self.previous_secret_until and now < self.previous_secret_until:
            found.append(self.previous_secret)
        return found

    def rotate_secret(self, now: datetime) -> str:
        self.previous_secret, self.previous_secret_until = self.secret, now + PREVIOUS_SECRET_GRACE
        self.secret = new_secret()
        self.updated_at = now
        return self.secret

    def enable(self, now: datetime) -> None:
        self.enabled, self.disabled_reason, self.disabled_at, self.failing_since = True, None, None, None
        self.updated_at = now

    def disable(self, reason: DisabledReason, now: datetime) -> None:
        self.enabled, self.disabled_reason, self.disabled_at = False, reason, now
        self.updated_at = now

    def record_failure(self, now: datetime) -> bool:
        """An attempt failed; True when this makes the endpoint disabled (failing for the window)."""
        if self.failing_since is None:
            self.failing_since = now
        if self.enabled and now - self.failing_since >= FAILING_WINDOW:
            self.disable(DisabledReason.FAILING, now)
            return True
        return False


# --- deliveries --------------------------------------------------------------------------------
class DeliveryState(StrEnum):
    PENDING = "pending"  #: waiting for its (next) attempt
    DELIVERED = "delivered"  #: a 2xx answer
    FAILED = "failed"  #: retried for ``give_up_after`` without success (a manual retry revives it)


class AttemptOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  #: 3xx, 4xx, 5xx, timeout, refused connection
    GONE = "gone"  #: 410: the endpoint is disabled at once


def outcome_of(status_code: int | None) -> AttemptOutcome:
    """A receiver's answer (None: no answer) as what happens next. Redirects are not followed."""
    if status_code is not None and 200 <= status_code < 300:
        return AttemptOutcome.DELIVERED
    if status_code == 410:
        return AttemptOutcome.GONE
    return AttemptOutcome.RETRY


@dataclass(frozen=True)
class NotificationDelivery:
    """One event for one endpoint, as the delivery log shows it."""

    seq: int
    message_id: str
    endpoint_e_id: str
    type: NotificationType
    subject_id: str
    occurred_at: datetime
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
