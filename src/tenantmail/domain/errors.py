"""Errors the rules raise. Entry points map each class to one HTTP status / CLI line.

    DomainError
    ├── InvalidInput           400  the request breaks a rule of shape or value
    ├── PayloadTooLarge        413  attachments/message beyond Postmark's 10 MB
    ├── NotFound               404  no such thing in this tenant (another tenant's is "no such thing")
    ├── Conflict               409  the thing exists but its state forbids the request
    │   ├── IllegalSignal           a lifecycle signal not allowed from the current states
    │   ├── NotSendable             the configuration cannot send now
    │   ├── SlugInUse               another live configuration owns the sending-domain slug
    │   ├── IdempotencyInFlight     the first request with this key is still running
    │   ├── ConcurrentModification  the record changed between reading and writing it; retry
    │   └── SuppressionNotRemovable a spam complaint cannot be lifted
    ├── RecipientSuppressed    403  the recipient is on the tenant's suppression list
    ├── IdempotencyMismatch    422  same key, different request body
    └── ReplayOfInconsistent   412  the key's job is INCONSISTENT; its answer can no longer be replayed
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every rule violation; ``status`` is the HTTP status entry points answer with."""

    status = 400
    kind = "Error"

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.message = message
        self.details = details

    def headers(self) -> dict[str, str] | None:
        """Headers the answer carries (e.g. ``Retry-After``); None: none."""
        return None


class InvalidInput(DomainError):
    status, kind = 400, "ValidationError"


class PayloadTooLarge(DomainError):
    status, kind = 413, "PayloadTooLarge"


class NotFound(DomainError):
    status, kind = 404, "NotFound"

    def __init__(self, what: str, e_id: str):
        super().__init__(f"{what} {e_id} not found", eId=e_id)


class Conflict(DomainError):
    status, kind = 409, "Conflict"


class IllegalSignal(Conflict):
    kind = "IllegalSignal"

    def __init__(self, signal: str, operational: str, administrative: str):
        super().__init__(
            f"signal '{signal}' is not allowed while the configuration is {operational} and {administrative}",
            signal=str(signal), operationalStatus=str(operational), administrativeStatus=str(administrative),
        )


class NotSendable(Conflict):
    kind = "NotSendable"

    def __init__(self, e_id: str, operational: str, administrative: str):
        reasons = []
        if str(administrative) != "UNLOCKED":
            reasons.append(f"administrative state is {administrative}")
        if str(operational) not in ("OK", "DEGRADED"):
            reasons.append(f"operational state is {operational}")
        super().__init__(
            f"configuration {e_id} cannot send: " + " and ".join(reasons),
            operationalStatus=str(operational), administrativeStatus=str(administrative),
        )


class SlugInUse(Conflict):
    kind = "SlugInUse"

    def __init__(self, slug: str):
        super().__init__(f"sendingDomainSlug '{slug}' is already used by a configuration that is not removed")


class TenantAlreadySending(Conflict):
    kind = "TenantAlreadyUnlocked"

    def __init__(self, other_eid: str):
        super().__init__(
            f"the tenant already has an unlocked configuration ({other_eid}); lock it first",
            otherEId=other_eid,
        )


class IdempotencyInFlight(Conflict):
    kind = "IdempotencyInFlight"

    def __init__(self) -> None:
        super().__init__("a request with this Idempotency-Key is still being processed; retry later")


class ConcurrentModification(Conflict):
    """A write guarded by the version it read found another version: nothing was written."""

    kind = "ConcurrentModification"

    def __init__(self) -> None:
        super().__init__("the resource changed concurrently; retry")


class SuppressionNotRemovable(Conflict):
    kind = "SuppressionNotRemovable"


class RecipientSuppressed(DomainError):
    status, kind = 403, "RecipientSuppressed"

    def __init__(self, recipient: str, reason: str):
        super().__init__(f"recipient {recipient} is suppressed ({reason})", reason=reason)


class IdempotencyMismatch(DomainError):
    status, kind = 422, "IdempotencyKeyReused"

    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was already used with a different request body")


class ReplayOfInconsistent(DomainError):
    status, kind = 412, "JobInconsistent"

    def __init__(self, job_eid: str):
        super().__init__(
            f"the job {job_eid} created with this Idempotency-Key is INCONSISTENT; it needs triage",
            jobEId=job_eid,
        )


class UpstreamUnavailable(DomainError):
    """A dependency (Postmark, DNS) failed while serving an operator request synchronously."""

    status, kind = 503, "UpstreamUnavailable"
