"""The fast lane: the two routes that carry the load, served without FastAPI's request machinery.

``POST /job`` and Postmark's ``POST /job/postmark-events`` are the only routes whose rate matters
(SPEC §13). For them FastAPI's middleware layers (server errors, OpenTelemetry probing, body
limits, exceptions), routing and dependency solving cost about as much CPU as the send itself.
:class:`FastLane` is an ASGI app composed in front of the FastAPI app: those two exact paths go,
behind the same :class:`RequestIdMiddleware`, to **the route functions themselves**
(``jobs.post_job``, ``webhooks.receive_postmark_event``) with what FastAPI would have given them;
everything else — other routes, the lifespan — goes to the FastAPI app unchanged:

* ``POST /job``: the caller from :func:`deps.caller` and the body parsed and validated as FastAPI
  does it (strict JSON content type, the same errors), then ``post_job``;
* the webhook: ``receive_postmark_event(request)``, which reads everything from the request.

Errors go to the app's own exception handlers (the one table in ``errors.py``, whose ``Exception``
entry answers 500 as Starlette's outermost middleware would), looked up by the exception's class
as Starlette does. The routes stay declared on the FastAPI app: they are the
contract (the OpenAPI document) and what ``create_app(fast_lane=False)`` serves; a test holds the
two to the same answers, byte for byte but for request ids and generated ids.
"""

from __future__ import annotations

import email.message
import functools
import json
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tenantmail.domain.json_input import loads
from tenantmail.entrypoints.api.deps import caller
from tenantmail.entrypoints.api.request_id import RequestIdMiddleware
from tenantmail.entrypoints.api.routes import jobs, webhooks
from tenantmail.entrypoints.api.schemas_job import SendIn

M = TypeVar("M", bound=BaseModel)


class FastLane:
    """``POST {prefix}/job`` and ``POST {prefix}/job/postmark-events`` to their route functions,
    everything else to ``api``."""

    def __init__(self, api: FastAPI, prefix: str) -> None:
        self.api = api
        self._routes = {f"{prefix}/job": _send, f"{prefix}/job/postmark-events": _webhook}
        self._lane = RequestIdMiddleware(self._serve)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self._routes:
            scope["app"] = self.api  # what Starlette sets; handlers reach the container through it
            await self._lane(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self._routes[scope["path"]](request)
        except Exception as exc:
            response = await _handled(request, exc)
        await response(scope, receive, send)


async def _send(request: Request) -> Response:
    who = await caller(request)
    return await jobs.post_job(await json_body(request, SendIn), who, request)


async def _webhook(request: Request) -> Response:
    return await webhooks.receive_postmark_event(request)


async def json_body(request: Request, model: type[M]) -> M:
    """The body as FastAPI reads a required model parameter: JSON only when the content type says
    so, the same error entries (``loc`` under ``body``) for the same mistakes."""
    raw = await request.body()
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    payload: Any = raw
    if _declares_json(request.headers.get("content-type")):
        try:
            payload = loads(raw)  # bounded: nesting, NUL (SPEC §14)
        except json.JSONDecodeError as exc:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                           "input": {}, "ctx": {"error": exc.msg}}]) from exc
        except UnicodeDecodeError as exc:
            raise HTTPException(400, "There was an error parsing the body") from exc
    try:
        return model.model_validate(payload, from_attributes=True)  # as FastAPI validates a body field
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from exc


@functools.lru_cache(maxsize=64)  # callers send the same few content types over and over
def _declares_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


async def _handled(request: Request, exc: Exception) -> Response:
    """The app's handler for ``exc`` (nearest class first); re-raised when it has none."""
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        if cls in handlers:
            response: Response = await handlers[cls](request, exc)
            return response
    raise exc
