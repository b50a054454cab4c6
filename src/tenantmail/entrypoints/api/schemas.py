"""Shapes shared by every route: the record envelope, list pages, and the error body."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class ErrorBody(BaseModel):
    error: str = Field(description="Error kind, e.g. ValidationError, NotFound, IllegalSignal.")
    message: str = Field(description="What went wrong, for a person.")
    requestId: str = Field(description="Echoed X-Request-Id; quote it when asking for help.")
    details: dict[str, Any] | None = None


ERROR_DESCRIPTIONS = {
    400: "Invalid request (validation, missing X-Tenant-Id)",
    401: "Missing or invalid credentials",
    403: "Forbidden (e.g. recipient suppressed)",
    404: "Not found in this tenant",
    409: "State conflict",
    412: "Precondition failed (replay of an INCONSISTENT job)",
    413: "Payload too large",
    422: "Idempotency-Key reused with a different body",
    429: "Too many requests",
    503: "Database or upstream unavailable; retry",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations for a route's error statuses (401 and 503 apply to every route)."""
    wanted = sorted({*statuses, 401, 503})
    return {s: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[s]} for s in wanted}


#: The platform's record envelope repeats the eId inside ``payload`` (docs/decisions.md D16).
PAYLOAD_EID = "The record's eId, repeated inside the payload as in the platform's record envelope."


class AsOf(BaseModel):
    effectiveFrom: int = Field(description="Epoch milliseconds this version took effect.")
    recordedFrom: int = Field(description="Epoch milliseconds this version was recorded.")


class RecordMetadata(BaseModel):
    tenantId: str
    author: str


class RecordEnvelope(BaseModel, Generic[T]):
    model_config = ConfigDict(populate_by_name=True)

    eId: str
    rId: str
    asOf: AsOf
    payload: T
    metadata: RecordMetadata


class PageOf(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class CountedPageOf(PageOf[T], Generic[T]):
    """A search page whose ``total`` is counted up to a bound (``GET /job``)."""

    total: int = Field(description="Matches, counted up to 10,000; when there are more: 10,001 and totalIsLowerBound.")
    totalIsLowerBound: bool = Field(description="true: more than 10,000 match; total is not exact.")


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_epoch_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z``, millisecond precision: how every time leaves the API."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
