"""Named dependencies of console routes: the session, the tenant in the path, CSRF-checked forms.

Forms are read by hand (URL-encoded bodies only) so the console needs no multipart parser.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request, Response

from tenantmail.domain.tenant import is_tenant_id
from tenantmail.entrypoints.api.deps import ContainerDep
from tenantmail.entrypoints.console import session as sessions
from tenantmail.entrypoints.console.session import Session
from tenantmail.entrypoints.console.web import LoginRequired, PageError, console_path

MAX_FORM_BYTES = 16 * 1024


def current_session(request: Request, app: ContainerDep) -> Session:
    """The verified session from the cookie; without one the route redirects to the login page."""
    found = sessions.verify(app.api_keys, request.cookies.get(sessions.COOKIE_NAME), app.ctx.clock())
    if found is None:
        raise LoginRequired
    request.state.console_session = found
    return found


OperatorSession = Annotated[Session, Depends(current_session)]


def path_tenant(tenant: str, _: OperatorSession) -> str:
    """The tenant the page is about; the same shape rule as the API's ``X-Tenant-Id``."""
    if not is_tenant_id(tenant):
        raise PageError(400, "a tenant id is 1-128 characters of [A-Za-z0-9._:@-]")
    return tenant


ConsoleTenant = Annotated[str, Depends(path_tenant)]


async def read_form(request: Request) -> dict[str, str]:
    """The URL-encoded body as a dict (last value wins; empty when there is none)."""
    body = await request.body()
    if not body:
        return {}
    if len(body) > MAX_FORM_BYTES:
        raise PageError(413, "form too large")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise PageError(415, "forms must be sent as application/x-www-form-urlencoded")
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


async def checked_form(request: Request, session: OperatorSession) -> dict[str, str]:
    """A state-changing form: refused with 403 unless it carries this session's CSRF token."""
    form = await read_form(request)
    if not session.is_valid_csrf(form.get("csrf")):
        raise PageError(403, "the form's CSRF token is missing or wrong; reload the page and try again")
    return form


CsrfForm = Annotated[dict[str, str], Depends(checked_form)]


def set_session_cookie(response: Response, request: Request, value: str) -> None:
    """HttpOnly (no script reads it), SameSite=Strict (no cross-site request carries it)."""
    response.set_cookie(
        sessions.COOKIE_NAME, value, max_age=int(sessions.SESSION_TTL.total_seconds()),
        path=console_path(request), httponly=True, samesite="strict", secure=request.url.scheme == "https",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        sessions.COOKIE_NAME, path=console_path(request), httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )


