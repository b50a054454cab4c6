"""FastAPI routes whose JSON bodies go through :func:`tenantmail.domain.json_input.loads`.

FastAPI parses a JSON body with ``await request.json()``; :class:`JsonRoute` hands each handler a
request whose ``json()`` is the bounded parser (nesting ≤ 32, no NUL: SPEC §14), the one the fast
lane and the webhook use. Its errors must leave FastAPI's body reading as an ``HTTPException``
(anything else becomes a generic "error parsing the body"), so they travel as
:class:`RejectedJson`, answered with the domain error's own kind and message.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from tenantmail.domain.errors import DomainError
from tenantmail.domain.json_input import loads


class RejectedJson(HTTPException):
    def __init__(self, error: DomainError) -> None:
        super().__init__(error.status, error.message)
        self.kind = error.kind


class BoundedJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = loads(body)
            except DomainError as exc:
                raise RejectedJson(exc) from exc
        return self._json


class JsonRoute(APIRoute):
    """An ``APIRoute`` parsing its JSON body with the bounded parser."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            return await handler(BoundedJsonRequest(request.scope, request.receive))

        return bounded
