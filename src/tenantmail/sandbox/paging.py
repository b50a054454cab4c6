"""``count`` / ``offset`` paging shared by every list endpoint (both required, count ≤ 500).

Searches over stored activity (bounces, messages) also refuse ``count + offset`` above 10,000,
as Postmark does (postmark-api.md §8.1, §9): deeper results are reached with date filters.
"""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request

from tenantmail.sandbox.errors import ApiError

T = TypeVar("T")
MAX_COUNT = 500
MAX_WINDOW = 10_000  #: the deepest ``count + offset`` a bounce or message search serves


def page(
    request: Request, items: list[T], *, query_error: int, window: int | None = None
) -> tuple[int, list[T]]:
    """(total, the requested slice); a missing or out-of-range count/offset → ``query_error``;
    ``window`` caps ``count + offset`` (the searches' 10,000)."""
    try:
        count = int(request.query_params["count"])
        offset = int(request.query_params["offset"])
    except (KeyError, ValueError) as exc:
        raise ApiError(query_error, "The 'count' and 'offset' parameters are required.") from exc
    if not 0 < count <= MAX_COUNT or offset < 0:
        raise ApiError(query_error, f"'count' must be 1..{MAX_COUNT} and 'offset' ≥ 0.")
    if window is not None and count + offset > window:
        raise ApiError(query_error, f"'count' + 'offset' must not exceed {window:,}.")
    return len(items), items[offset:offset + count]
