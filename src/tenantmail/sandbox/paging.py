"""``count`` / ``offset`` paging shared by every list endpoint (both required, count ≤ 500)."""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request

from tenantmail.sandbox.errors import ApiError

T = TypeVar("T")
MAX_COUNT = 500


def page(request: Request, items: list[T], *, query_error: int) -> tuple[int, list[T]]:
    """(total, the requested slice); a missing or out-of-range count/offset → ``query_error``."""
    try:
        count = int(request.query_params["count"])
        offset = int(request.query_params["offset"])
    except (KeyError, ValueError) as exc:
        raise ApiError(query_error, "The 'count' and 'offset' parameters are required.") from exc
    if not 0 < count <= MAX_COUNT or offset < 0:
        raise ApiError(query_error, f"'count' must be 1..{MAX_COUNT} and 'offset' ≥ 0.")
    return len(items), items[offset:offset + count]
