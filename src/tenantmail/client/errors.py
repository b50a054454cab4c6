"""Errors raised by the client. Every answer of the API outside 2xx becomes one of these, carrying
the SPEC error body (``error``, ``message``, ``requestId``: quote the request id to the operator).

    TenantmailError
    ├── ApiError                   any non-2xx answer; ``status_code``, ``error``, ``message``, ``request_id``
    │   ├── BadRequest             400  invalid input (nothing changed)
    │   ├── Unauthorized           401  missing or wrong API key
    │   ├── Forbidden              403  e.g. the recipient is suppressed
    │   ├── NotFound               404
    │   ├── Conflict               409  state conflict; ``IdempotencyInFlight`` is retried by send_email
    │   ├── PreconditionFailed     412  replay of a job now INCONSISTENT
    │   ├── PayloadTooLarge        413
    │   ├── Unprocessable          422  idempotency key reused with another body
    │   ├── TooManyRequests        429  (retried by send_email; ``retry_after`` seconds when given)
    │   └── ServiceUnavailable     503  (retried by send_email)
    ├── TransportError             no answer (connection refused, timeout): the request may or may not have arrived
    ├── WaitTimeout                wait_for: the job did not reach one of the statuses in time
    └── InvalidSignature           verify_notification: not signed by this secret, or too old / too new
"""

from __future__ import annotations

from typing import Any


class TenantmailError(Exception):
    """The root of the client's errors."""


class ApiError(TenantmailError):
    """A non-2xx answer with the SPEC error body."""

    status_code: int = 0

    def __init__(self, status_code: int, body: dict[str, Any], *, retry_after: float | None = None) -> None:
        self.status_code = status_code
        self.body = body
        self.error: str = str(body.get("error", ""))
        self.message: str = str(body.get("message", ""))
        self.request_id: str = str(body.get("requestId", ""))
        self.retry_after = retry_after
        super().__init__(f"{status_code} {self.error}: {self.message} (requestId {self.request_id})")


class BadRequest(ApiError):
    """400: the input was refused; nothing changed."""


class Unauthorized(ApiError):
    """401: missing or wrong API key."""


class Forbidden(ApiError):
    """403: e.g. the recipient is suppressed."""


class NotFound(ApiError):
    """404: no such resource in this tenant."""


class Conflict(ApiError):
    """409: the resource's state does not allow it (or an idempotency key is in flight)."""


class PreconditionFailed(ApiError):
    """412: the replayed job is INCONSISTENT."""


class PayloadTooLarge(ApiError):
    """413."""


class Unprocessable(ApiError):
    """422: the idempotency key was used with another body."""


class TooManyRequests(ApiError):
    """429: slow down (``retry_after``)."""


class ServiceUnavailable(ApiError):
    """503: try again (the same idempotency key is safe)."""


class TransportError(TenantmailError):
    """No answer from the service (refused, reset, timed out); raised with httpx's error as cause."""


class WaitTimeout(TenantmailError):
    """``wait_for`` ran out of time; ``job`` is the last state seen."""

    def __init__(self, message: str, job: Any) -> None:
        super().__init__(message)
        self.job = job


class InvalidSignature(TenantmailError):
    """A notification that is not signed with the secret, malformed, or outside the time tolerance."""


BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 412: PreconditionFailed,
    413: PayloadTooLarge, 422: Unprocessable, 429: TooManyRequests, 503: ServiceUnavailable,
}


def error_for(status_code: int, body: Any, retry_after: float | None = None) -> ApiError:
    if not isinstance(body, dict):
        body = {"error": "HttpError", "message": str(body)[:500], "requestId": ""}
    return BY_STATUS.get(status_code, ApiError)(status_code, body, retry_after=retry_after)
