"""The web console: mounted by the API at ``/console`` (see docs/console.md).

    api.include_router(console.router, prefix="/console")

This module holds the session pages (login, logout), the drift report and its repair form; the
tenant list and the cross-tenant feed live in ``activity_pages``, a tenant's pages in
``configuration_pages`` and ``delivery_pages``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tenantmail.entrypoints.api.deps import ContainerDep
from tenantmail.entrypoints.console import activity_pages, configuration_pages, delivery_pages
from tenantmail.entrypoints.console import session as sessions
from tenantmail.entrypoints.console.auth import (
    CsrfForm,
    OperatorSession,
    clear_session_cookie,
    read_form,
    set_session_cookie,
)
from tenantmail.entrypoints.console.web import ConsoleRoute, redirect, render, safe_next
from tenantmail.services.repair_drift import repair_drift

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/login", name="console.login_form")
async def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", next=safe_next(request, next), error=None)


@router.post("/login", name="console.login")
async def login(request: Request, app: ContainerDep) -> Response:
    """Trade a valid API key for a session cookie; the key itself is never stored in it."""
    form = await read_form(request)
    key = sessions.matching_key(app.api_keys, form.get("api_key", ""))
    target = safe_next(request, form.get("next"))
    if key is None:
        return render(request, "login.html", http_status=401, next=target, error="That API key is not valid.")
    response = redirect(target)
    operator = sessions.normalize_operator(form.get("operator"))
    set_session_cookie(response, request, sessions.issue(key, operator, app.ctx.clock()))
    return response


@router.post("/logout", name="console.logout")
async def logout(request: Request, _: CsrfForm) -> Response:
    response = redirect(request.url_for("console.login_form").path)
    clear_session_cookie(response, request)
    return response


@router.get("/drift", name="console.drift")
async def drift(request: Request, app: ContainerDep, _: OperatorSession) -> Response:
    report = await app.ctx.drift_reports.latest()
    return render(request, "drift.html", section="drift", report=report)


@router.post("/drift/repair", name="console.drift_repair")
async def drift_repair(request: Request, app: ContainerDep, session: OperatorSession, form: CsrfForm) -> Response:
    """Scan and plan the safe repairs (``action=plan``) or apply them (``action=apply``, with the
    confirmation box ticked); orphan servers/domains are deleted only for the ids typed in."""
    try:
        servers, domains = _ids(form.get("servers", "")), _ids(form.get("domains", ""))
    except ValueError:
        return await _drift_page(request, app, 400, "Orphan ids are numbers, separated by commas or spaces.")
    apply = form.get("action") == "apply"
    if apply and form.get("confirm") != "yes":
        return await _drift_page(request, app, 400, "Tick the confirmation box to apply the repairs.")
    result = await repair_drift(app.ctx, apply=apply, author=session.author,
                                delete_orphan_server_ids=servers, delete_orphan_domain_ids=domains)
    return render(request, "drift.html", section="drift", report=result.report, repair=result,
                  servers=form.get("servers", ""), domains=form.get("domains", ""))


def _ids(text: str) -> list[int]:
    return [int(part) for part in text.replace(",", " ").split()]


async def _drift_page(request: Request, app: ContainerDep, status: int, refusal: str) -> Response:
    report = await app.ctx.drift_reports.latest()
    return render(request, "drift.html", http_status=status, section="drift", report=report, refusal=refusal)


router.include_router(activity_pages.router)
router.include_router(configuration_pages.router)
router.include_router(delivery_pages.router)
