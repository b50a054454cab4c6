"""The emulator as one ASGI app: ``create_app(state, account_token=..., ...)``.

Layers, outside in: path normalisation (a trailing ``/`` is served as the path without it, and
the domain verify routes in any case), fault injection,
FastAPI routing (JSON-header rule on every Postmark route, then token auth per router). The
lifespan starts the webhook dispatcher, so in-process tests must run the lifespan
(``asgi_lifespan.LifespanManager``) or serve it with uvicorn.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from tenantmail.sandbox import (
    routes_bounces,
    routes_control,
    routes_domains,
    routes_email,
    routes_messages,
    routes_senders,
    routes_servers,
    routes_suppressions,
    routes_webhooks,
    streams,
)
from tenantmail.sandbox.config import SandboxConfig
from tenantmail.sandbox.context import Sandbox
from tenantmail.sandbox.deps import require_json_headers
from tenantmail.sandbox.errors import ApiError, api_error_handler, http_error_handler
from tenantmail.sandbox.faults import FaultMiddleware
from tenantmail.sandbox.state import SandboxState

POSTMARK_ROUTERS = (
    routes_servers.account, routes_servers.own, routes_senders.router, routes_webhooks.router,
    routes_domains.router, routes_email.router, routes_messages.router, routes_bounces.router,
    routes_suppressions.router, streams.router,
)
_VERIFY_PATH = re.compile(
    r"^(/domains/\d+/)(verifydkim|verifyreturnpath|verifyspf|rotatedkim)$", re.IGNORECASE
)


async def _invalid_request(request: Request, exc: Exception) -> Response:
    """FastAPI's own parameter errors (e.g. a non-numeric id) in Postmark's error shape."""
    return await api_error_handler(request, ApiError(403, f"Invalid request fields: {exc}"))


class _NormalisedPaths:
    """Serve ``/servers/`` as ``/servers`` (Postmark answers both; Starlette would redirect with a
    307, which clients sending a body do not follow), and route ``verifyDkim`` / ``verifydkim``
    (docs vs old swagger spelling) to the same handler."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                path = path.rstrip("/") or "/"
            if match := _VERIFY_PATH.match(path):
                path = match.group(1) + match.group(2).lower()
            if path != scope["path"]:
                scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, send)


def create_app(
    state: SandboxState | str | Path | None = None,
    *,
    account_token: str,
    route53_endpoint_url: str | None = None,
    config: SandboxConfig | None = None,
) -> FastAPI:
    """The emulator; ``state`` is a store, a SQLite file path, or None for an in-memory store."""
    store = state if isinstance(state, SandboxState) else SandboxState(state)
    sandbox = Sandbox.build(store, config or SandboxConfig(), account_token, route53_endpoint_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await sandbox.dispatcher.start()
        try:
            yield
        finally:
            await sandbox.dispatcher.stop()

    api = FastAPI(title="tenantmail Postmark sandbox", lifespan=lifespan, openapi_url=None,
                  docs_url=None, redoc_url=None, redirect_slashes=False)
    api.state.sandbox = sandbox
    api.add_exception_handler(ApiError, api_error_handler)
    api.add_exception_handler(StarletteHTTPException, http_error_handler)
    api.add_exception_handler(RequestValidationError, _invalid_request)
    for router in POSTMARK_ROUTERS:
        api.include_router(router, dependencies=[Depends(require_json_headers)])
    api.include_router(routes_control.router)
    api.add_middleware(FaultMiddleware, book=sandbox.faults)
    api.add_middleware(_NormalisedPaths)
    return api
