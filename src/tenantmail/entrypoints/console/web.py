"""How the console answers: Jinja2 pages with autoescape on, strict headers, and HTML errors.

Everything a tenant sent (names, subjects, recipients, bodies, event payloads) is untrusted, so
the environment escapes every ``{{ }}`` and the Content-Security-Policy forbids scripts, frames and
foreign form targets outright: even an escaping mistake could not run code or be clickjacked. The
one exception is the message page, which may frame the sanitised HTML body served by the console
itself (``CSP_FRAMING_BODY``, ``CSP_MESSAGE_BODY``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined

from tenantmail.domain.errors import ConcurrentModification, DomainError

_env = Environment(
    loader=PackageLoader("tenantmail.entrypoints.console", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["ts"] = lambda value: value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "—"
_env.filters["pct"] = lambda value: "—" if value is None else f"{value * 100:.1f} %"
# Plain JSON text, escaped like any other value (tojson's \u003c escapes are for <script>, unreadable here).
_env.filters["pretty_json"] = lambda value: json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)

#: Styles are one inline <style> block; nothing else may load, run or frame the console.
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
#: The message page also frames its own sanitised HTML body (``console.job_html``), nothing else.
CSP_FRAMING_BODY = CSP.replace("default-src 'none';", "default-src 'none'; frame-src 'self';")
#: The sanitised HTML body inside its sandboxed iframe: no script, no remote load (inline images
#: only), no form, no navigation; framed by the console alone.
CSP_MESSAGE_BODY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
    "frame-ancestors 'self'; base-uri 'none'; sandbox"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class LoginRequired(Exception):
    """No valid session: the route answers with a redirect to the login page."""


class PageError(Exception):
    """A request the console refuses itself (bad CSRF token, bad tenant id): an error page."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def render(
    request: Request, template: str, http_status: int = 200, *, csp: str = CSP, **context: Any,
) -> HTMLResponse:
    """A page from ``templates/`` with what the layout needs: the session, partition, tenant, and
    the confirmation left by the action that redirected here (shown once)."""
    settings = request.app.state.tenantmail.settings
    notice = unquote(request.cookies.get(NOTICE_COOKIE, ""))[:500] or None
    layout = {
        "request": request, "session": getattr(request.state, "console_session", None),
        "partition": settings.partition, "live": settings.is_live, "tenant": None, "section": None,
        "notice": notice,
    }
    page = _env.get_template(template).render({**layout, **context})
    response = HTMLResponse(page, status_code=http_status, headers={**SECURITY_HEADERS, "Content-Security-Policy": csp})
    if notice is not None:
        response.delete_cookie(NOTICE_COOKIE, path=console_path(request), httponly=True, samesite="strict")
    return response


#: Post/redirect/get: the action's confirmation travels to the next page in a one-shot cookie
#: (HttpOnly, SameSite=Strict, a minute at most), so a reload never repeats the action or the message.
NOTICE_COOKIE = "tenantmail_console_notice"


def done(request: Request, url: str, notice: str) -> RedirectResponse:
    """303 to ``url``, which shows ``notice`` once as the confirmation of what was just done."""
    response = redirect(url)
    response.set_cookie(NOTICE_COOKIE, quote(notice, safe=""), max_age=60, path=console_path(request),
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


def console_path(request: Request) -> str:
    """The console's root path: where its cookies apply."""
    return request.url_for("console.home").path.rstrip("/") or "/"


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", http_status=status, status_code=status, message=message)


def redirect(url: str) -> RedirectResponse:
    """303 See Other: after a POST the browser follows with a GET (no resubmission on reload)."""
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(f"{request.url_for('console.login_form').path}?next={quote(target, safe='')}")


def safe_next(request: Request, target: str | None) -> str:
    """Where to go after login: a path inside the console only (no open redirect)."""
    home = request.url_for("console.home").path
    if target and target.startswith(home) and not target.startswith("//") and "\\" not in target:
        return target
    return home


PAGE_SIZE = 50


@dataclass(frozen=True)
class Pager:
    """One page of a list: which slice to fetch and what the page links need."""

    number: int
    total: int = 0
    size: int = PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def last(self) -> int:
        return max(1, -(-self.total // self.size))

    def of(self, total: int) -> Pager:
        return Pager(self.number, total, self.size)


def page_param(page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Pager:
    return Pager(page)


def choice(value: str | None, allowed: type[StrEnum], what: str) -> list[str] | None:
    """A filter from a <select>: "" means any; anything outside the enum is a 400 page."""
    if not value:
        return None
    if value not in {member.value for member in allowed}:
        raise PageError(400, f"unknown {what} '{value}'")
    return [value]


class ConsoleRoute(APIRoute):
    """Turns the exceptions a console handler may raise into pages instead of JSON bodies."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def as_page(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return login_redirect(request)
            except ConcurrentModification:
                return error_page(request, 409, "the record changed while this request ran; reload and retry")
            except (DomainError, PageError) as exc:  # e.g. 404 for another tenant's record
                return error_page(request, exc.status, exc.message)
            except RequestValidationError as exc:
                return error_page(request, 400, _first_problem(exc))

        return as_page


def _first_problem(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    loc = ".".join(str(p) for p in errors[0].get("loc", ()))
    return f"{loc}: {errors[0].get('msg', 'invalid')}"
