"""Request body limits enforced while reading (SPEC §14): nothing beyond the limit is ever buffered.

:class:`BodyLimit` is pure ASGI, outermost on every route (the fast lane included): it wraps
``receive`` so that the request's bytes are counted as the app reads them. A body over its limit —
declared by ``Content-Length`` or found while streaming a chunked one — raises
:class:`BodyTooLarge` (413, the SPEC error body) at the first read past the limit. Nothing is read
before the app asks, so the webhook checks its Basic credentials from the headers first and a caller
without them is answered 401 before a byte of the body is taken in. ``POST /job/postmark-events``
has its own, smaller limit (``TENANTMAIL_MAX_WEBHOOK_BYTES``), ``POST /job/batch`` its own, larger one
(``TENANTMAIL_MAX_BATCH_BYTES``, Postmark's 50 MB batch limit: 500 messages do not fit in one send's
limit); every other route has ``TENANTMAIL_MAX_BODY_BYTES``.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """413: FastAPI re-raises ``HTTPException`` from body reading, so every route answers it alike."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimit:
    """``app`` with every request body limited to ``limit`` bytes, but those to a path of
    ``path_limits`` (the webhook, the batch) to that path's limit."""

    def __init__(self, app: ASGIApp, *, limit: int, path_limits: Mapping[str, int]) -> None:
        self.app, self.limit, self.path_limits = app, limit, dict(path_limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope["path"], self.limit)
        await self.app(scope, _limited(receive, limit, _declared_length(scope)), send)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses such a request itself
    return None


def _limited(receive: Receive, limit: int, declared: int | None) -> Receive:
    received = 0

    async def receive_within_limit() -> Message:
        nonlocal received
        if declared is not None and declared > limit:
            raise BodyTooLarge(limit)  # before reading any of it
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
        return message

    return receive_within_limit
