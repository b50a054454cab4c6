"""What the databases can hold (SPEC §14): numbers and moments outside it are a 400, never a 500.

Both databases take 64-bit signed integers; Python's ``datetime`` (what both drivers convert
timestamps to and from) spans the years 1 to 9999 in UTC. A moment with an offset may leave that
range once converted (``0001-01-01T00:00:00+14:00`` is in year 0), so moments are checked
*after* conversion. Used by the API's query parameters and by the CLI's options alike.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tenantmail.domain.errors import InvalidInput

MAX_INT64 = 2**63 - 1
#: the largest page offset (any larger skips past every row there could be)
MAX_OFFSET = MAX_INT64
#: epoch milliseconds of 9999-12-31T23:59:59.999Z, the last moment ``datetime`` holds
MAX_EPOCH_MS = 253402300799999


def utc_instant(moment: datetime, what: str) -> datetime:
    """``moment`` in UTC (naive: read as UTC), or InvalidInput when UTC cannot hold it."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{what} is outside the years 1-9999 once converted to UTC") from None


def parse_instant(text: str, what: str) -> datetime:
    """An ISO 8601 date-time (``Z`` or an offset; none: UTC) as a UTC moment, or InvalidInput."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{what} must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z") from None
    return utc_instant(moment, what)


def check_offset(offset: int) -> int:
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET}")
    return offset


def check_epoch_ms(value: int, what: str) -> int:
    if not 0 <= value <= MAX_EPOCH_MS:
        raise InvalidInput(f"{what} must be epoch milliseconds between 0 and {MAX_EPOCH_MS}")
    return value
