"""Postmark's error body, ``{"ErrorCode": n, "Message": "..."}``, as one exception type.

Handlers raise :class:`ApiError`; the app turns it into the JSON body at the status Postmark uses.
Unknown ids answer HTTP 422 with the entity's code (501, 601, 701, 1001...), the choice
postmark-api.md §5.1 recommends while live captures of 404 are missing.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """A request Postmark would refuse, with the HTTP status and Postmark ErrorCode to answer."""

    def __init__(self, error_code: int, message: str, *, http_status: int = 422) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.http_status = http_status

    def body(self) -> dict[str, object]:
        return {"ErrorCode": self.error_code, "Message": self.message}


def not_found(error_code: int, what: str) -> ApiError:
    return ApiError(error_code, f"{what} not found.")


async def api_error_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.http_status)


async def http_error_handler(_: Request, exc: Exception) -> Response:
    """405 on a real path answers with an empty body, as the live API does (postmark-api.md §1)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        return Response(status_code=405)
    return JSONResponse({"ErrorCode": 12, "Message": "Resource not found."}, status_code=exc.status_code)
