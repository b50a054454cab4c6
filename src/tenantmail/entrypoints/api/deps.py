"""Named dependencies, so handlers read as three lines: ``AppDep``, ``Tenant``, ``Author``, ``Page``.

They are ``async def`` although none awaits: FastAPI runs a plain ``def`` dependency in its thread
pool, a hop that costs more than these checks themselves on every request.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from tenantmail.adapters.telemetry import bind_context
from tenantmail.bootstrap import App
from tenantmail.entrypoints.api.errors import ApiError

TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")


async def get_app(request: Request) -> App:
    return request.app.state.tenantmail


AppDep = Annotated[App, Depends(get_app)]


async def require_api_key(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """Bearer authentication against every configured key, compared in constant time.

    Every key is compared (no early exit), so the time taken does not tell which key, if any,
    shares a prefix with the presented one.
    """
    app: App = request.app.state.tenantmail
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise ApiError(401, "Unauthorized", "missing bearer API key", headers={"WWW-Authenticate": "Bearer"})
    candidate = presented.strip().encode()
    matched = False
    for key in app.api_keys:
        matched |= hmac.compare_digest(candidate, key.get_secret_value().encode())
    if not matched:
        raise ApiError(401, "Unauthorized", "invalid API key", headers={"WWW-Authenticate": "Bearer"})


async def tenant_header(x_tenant_id: Annotated[str | None, Header(description="The tenant acted for.")] = None) -> str:
    if not x_tenant_id:
        raise ApiError(400, "MissingTenant", "the X-Tenant-Id header is required")
    if not TENANT_PATTERN.match(x_tenant_id):
        raise ApiError(400, "InvalidTenant", "X-Tenant-Id must be 1-128 characters of [A-Za-z0-9._:@-]")
    bind_context(tenant_id=x_tenant_id)  # every log line of the request carries it
    return x_tenant_id


async def author_header(x_author: Annotated[str | None, Header(description="Who asked; recorded in history.")] = None) -> str:
    author = (x_author or "").strip()
    if len(author) > 255 or any(ch in author for ch in "\r\n"):
        raise ApiError(400, "InvalidAuthor", "X-Author must be one line of at most 255 characters")
    return author or "unknown"


Tenant = Annotated[str, Depends(tenant_header)]
Author = Annotated[str, Depends(author_header)]


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


async def page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Page size (1-500).")] = 50,
    offset: Annotated[int, Query(ge=0, description="Items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit, offset)


Page = Annotated[PageParams, Depends(page_params)]
