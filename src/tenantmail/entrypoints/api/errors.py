"""The one table from errors to the SPEC error body ``{"error", "message", "requestId"}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import sentry_sdk
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tenantmail.adapters.db.intake.group_commit import DatabaseUnavailable
from tenantmail.domain.errors import DomainError

log = structlog.get_logger("tenantmail.api")

HTTP_KINDS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
    409: "Conflict", 412: "PreconditionFailed", 413: "PayloadTooLarge", 415: "UnsupportedMediaType",
    422: "Unprocessable", 429: "TooManyRequests", 503: "ServiceUnavailable",
}


class ApiError(Exception):
    """An error raised by the HTTP layer itself (auth, headers, paging) with its status and kind."""

    def __init__(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.kind, self.message, self.headers = status, kind, message, headers


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", "")


def error_response(
    request: Request, status: int, kind: str, message: str, headers: dict[str, str] | None = None,
    **details: object,
) -> JSONResponse:
    body: dict[str, object] = {"error": kind, "message": message, "requestId": request_id(request)}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def validation_message(errors: Sequence[Any], prefix: str = "") -> str:
    """Pydantic's errors as one line: ``loc: msg; …`` (the first five; ``prefix`` before each loc)."""
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in (prefix, *err.get("loc", ())) if p not in ("body", ""))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return error_response(request, exc.status, exc.kind, exc.message, headers=exc.headers(), **exc.details)

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc.status, exc.kind, exc.message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, 400, "ValidationError", validation_message(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = getattr(exc, "kind", None) or HTTP_KINDS.get(exc.status_code, "Error")
        message = exc.detail if isinstance(exc.detail, str) else kind
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        return error_response(request, exc.status_code, kind, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg.InterfaceError)
    @app.exception_handler(DatabaseUnavailable)  # the hot paths' lanes
    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("email.api.database_unavailable", path=request.url.path, error=type(exc).__name__)
        return error_response(
            request, 503, "ServiceUnavailable", "the database is unavailable; retry later",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("email.api.unexpected_error", path=request.url.path)
        sentry_sdk.capture_exception(exc)  # a no-op unless TENANTMAIL_SENTRY_DSN is set
        # Starlette answers this one from its outermost middleware, outside RequestIdMiddleware
        return error_response(
            request, 500, "InternalError", "unexpected error; see the logs with this requestId",
            headers={"x-request-id": request_id(request)},
        )
