"""Named dependencies, so handlers read as three lines: ``ContainerDep``, ``Tenant``, ``Author``, ``Page``
(and ``CallerDep``, the same checks in one, for the hot ``POST /job``).

They are ``async def`` although none awaits: FastAPI runs a plain ``def`` dependency in its thread
pool, a hop that costs more than these checks themselves on every request.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request

from tenantmail.adapters.telemetry import bind_context
from tenantmail.bootstrap import Container
from tenantmail.domain.bounds import MAX_OFFSET
from tenantmail.domain.errors import InvalidInput
from tenantmail.domain.header_text import check_header_text, is_header_text
from tenantmail.domain.tenant import valid_tenant_id
from tenantmail.entrypoints.api.errors import ApiError

TENANT_DOC = "The tenant acted for."
AUTHOR_DOC = "Who asked; recorded in history."


async def get_container(request: Request) -> Container:
    return request.app.state.tenantmail


ContainerDep = Annotated[Container, Depends(get_container)]


def authenticate(app: Container, authorization: str | None) -> None:
    """Bearer authentication against every configured key, compared in constant time.

    Every key is compared (no early exit), so the time taken does not tell which key, if any,
    shares a prefix with the presented one.
    """
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise ApiError(401, "Unauthorized", "missing bearer API key", headers={"WWW-Authenticate": "Bearer"})
    candidate = presented.strip().encode()
    matched = False
    for key in app.api_keys:
        matched |= hmac.compare_digest(candidate, key.get_secret_value().encode())
    if not matched:
        raise ApiError(401, "Unauthorized", "invalid API key", headers={"WWW-Authenticate": "Bearer"})


def valid_tenant(x_tenant_id: str | None) -> str:
    tenant = valid_tenant_id(x_tenant_id)  # the one rule (domain/tenant.py), the CLI's too
    bind_context(tenant_id=tenant)  # every log line of the request carries it
    return tenant


def valid_author(x_author: str | None) -> str:
    author = (x_author or "").strip()
    if len(author) > 255 or not is_header_text(author):
        raise ApiError(400, "InvalidAuthor", "X-Author must be one line of at most 255 characters")
    return author or "unknown"


async def plain_text_parameters(request: Request) -> None:
    """Every route's path and query parameters are identifiers, addresses or filters: header text
    (SPEC §14), checked here once for all of them (an app-wide dependency)."""
    if not is_header_text(request.scope["path"]):
        raise InvalidInput("the path must not contain control characters (C0 incl. NUL, DEL, U+2028, U+2029)")
    for name, value in request.query_params.multi_items():
        check_header_text(name, "a query parameter's name")
        check_header_text(value, f"query parameter {name[:40]}")


async def require_api_key(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    authenticate(request.app.state.tenantmail, authorization)


async def tenant_header(x_tenant_id: Annotated[str | None, Header(description=TENANT_DOC)] = None) -> str:
    return valid_tenant(x_tenant_id)


async def author_header(x_author: Annotated[str | None, Header(description=AUTHOR_DOC)] = None) -> str:
    return valid_author(x_author)


@dataclass(frozen=True)
class Caller:
    """Who calls a hot route: the Container, the authenticated caller's tenant and author."""

    app: Container
    tenant: str
    author: str


async def caller(request: Request) -> Caller:
    """``POST /job``'s single dependency: the same checks as ``require_api_key``, ``Tenant`` and
    ``Author``, read straight from the headers. FastAPI validates every ``Header()`` parameter
    through pydantic; on ``POST /job`` those passes cost ~0.14 ms of the request's ~1 ms of CPU.
    The headers are documented with :data:`CALLER_HEADERS` instead."""
    headers = request.headers
    app: Container = request.app.state.tenantmail
    authenticate(app, headers.get("authorization"))
    return Caller(app, valid_tenant(headers.get("x-tenant-id")), valid_author(headers.get("x-author")))


def header_doc(name: str, description: str, *, required: bool) -> dict[str, Any]:
    """One header parameter as the OpenAPI document lists it."""
    return {"in": "header", "name": name, "required": required, "description": description,
            "schema": {"type": "string"}}


#: The headers :func:`caller` reads, for the route's ``openapi_extra``.
CALLER_HEADERS = [
    header_doc("authorization", "`Bearer <api key>`.", required=True),
    header_doc("x-tenant-id", TENANT_DOC, required=True),
    header_doc("x-author", AUTHOR_DOC, required=False),
]


Tenant = Annotated[str, Depends(tenant_header)]
Author = Annotated[str, Depends(author_header)]
CallerDep = Annotated[Caller, Depends(caller)]


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


async def page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Page size (1-500).")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit, offset)


Page = Annotated[PageParams, Depends(page_params)]
