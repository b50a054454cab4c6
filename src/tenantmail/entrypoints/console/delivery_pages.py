"""Delivery pages: jobs, one message in full (headers, bodies, events), the suppression list, the
send quotas."""

from __future__ import annotations

from typing import Annotated, Any

import nh3
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse

from tenantmail.domain.errors import Conflict, InvalidInput, NotFound, UpstreamUnavailable
from tenantmail.domain.job import JobStatus, canonical_recipient
from tenantmail.domain.job_search import JobSearch
from tenantmail.domain.quota import TenantLimits
from tenantmail.domain.send_request import valid_address
from tenantmail.domain.suppression import SuppressionReason
from tenantmail.entrypoints.api.deps import ContainerDep
from tenantmail.entrypoints.console.auth import ConsoleTenant, CsrfForm, OperatorSession
from tenantmail.entrypoints.console.web import (
    CSP_FRAMING_BODY,
    CSP_MESSAGE_BODY,
    SECURITY_HEADERS,
    ConsoleRoute,
    Pager,
    choice,
    done,
    page_param,
    render,
)
from tenantmail.services.dispatch_jobs import outbound
from tenantmail.services.manage_suppression import add_suppression, remove_suppression
from tenantmail.services.tenant_limits import read_limits, set_limits

router = APIRouter(route_class=ConsoleRoute)

PageDep = Annotated[Pager, Depends(page_param)]
MAX_EVENTS_SHOWN = 500
#: URL schemes a sanitised HTML body keeps: inline images and mail links. Every http(s) URL goes
#: (a tracking pixel, a remote stylesheet or a link that would load a page inside the frame), so
#: viewing a message never tells its sender it was read; the frame's CSP forbids such loads as well.
INLINE_SCHEMES = frozenset({"cid", "data", "mailto"})


@router.get("/t/{tenant}/jobs", name="console.jobs")
async def jobs(
    request: Request, app: ContainerDep, tenant: ConsoleTenant, pager: PageDep,
    status: Annotated[str, Query()] = "", recipient: Annotated[str, Query()] = "",
    configuration: Annotated[str, Query()] = "", tag: Annotated[str, Query()] = "",
) -> Response:
    search = JobSearch.parse(  # InvalidInput → a 400 page
        statuses=[JobStatus(s) for s in choice(status, JobStatus, "job status") or ()],
        recipient=recipient.strip() or None, configuration_e_id=configuration or None, tag=tag or None,
    )
    async with app.ctx.uow(tenant) as uow:
        items, total = await uow.jobs.list(search, limit=pager.size, offset=pager.offset)
    return render(
        request, "jobs.html", section="jobs", tenant=tenant, items=items, pager=pager.of(total), statuses=list(JobStatus),
        status=status, recipient=recipient, configuration=configuration, tag=tag,
    )


@router.get("/t/{tenant}/jobs/{e_id}", name="console.job")
async def job(request: Request, app: ContainerDep, tenant: ConsoleTenant, e_id: str) -> Response:
    """The message as sent (the dispatcher's own headers), its bodies, its events, its suppressions."""
    async with app.ctx.uow(tenant) as uow:
        found = await uow.jobs.get(e_id)  # NotFound (also for another tenant's) → 404 page
        events, total = await uow.events.list(job_e_id=e_id, limit=MAX_EVENTS_SHOWN)
        suppressions, _ = await uow.suppressions.list(recipient=found.recipient, include_removed=True, limit=20)
        try:
            message = outbound(await uow.configurations.get(found.configuration_e_id), found)
        except (NotFound, InvalidInput):  # configuration gone, or its From no longer allowed
            message = None
    caused = [s for s in suppressions if s.created_at >= found.created_at]
    return render(
        request, "job.html", csp=CSP_FRAMING_BODY, section="jobs", tenant=tenant, job=found, message=message,
        events=events, events_total=total, suppressions=caused,
    )


@router.get("/t/{tenant}/jobs/{e_id}/html", name="console.job_html")
async def job_html(app: ContainerDep, tenant: ConsoleTenant, e_id: str) -> Response:
    """The HTML body, sanitised (no script, no handler, no form, no frame), for the sandboxed
    iframe of the message page; remote URLs are dropped and its own CSP forbids every remote load."""
    async with app.ctx.uow(tenant) as uow:
        found = await uow.jobs.get(e_id)
    body = nh3.clean(found.html_body or "", url_schemes=set(INLINE_SCHEMES), link_rel="noopener noreferrer nofollow")
    page = f'<!doctype html><html><head><meta charset="utf-8"><title>HTML body</title></head><body>{body}</body></html>'
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": CSP_MESSAGE_BODY, "X-Frame-Options": "SAMEORIGIN"}
    return HTMLResponse(page, headers=headers)


async def _suppressions_page(
    request: Request, app: ContainerDep, tenant: str, pager: Pager, recipient: str, include_removed: bool,
    *, status: int = 200, refusal: str | None = None, add_error: str | None = None,
    add_form: dict[str, str] | None = None,
) -> Response:
    async with app.ctx.uow(tenant) as uow:
        items, total = await uow.suppressions.list(
            recipient=canonical_recipient(recipient) or None, include_removed=include_removed,
            limit=pager.size, offset=pager.offset,
        )
    return render(
        request, "suppressions.html", http_status=status, section="suppressions", tenant=tenant, items=items,
        pager=pager.of(total), recipient=recipient, include_removed=include_removed, refusal=refusal,
        add_error=add_error, add_form=add_form or {}, reasons=list(SuppressionReason),
    )


@router.get("/t/{tenant}/suppressions", name="console.suppressions")
async def suppressions(
    request: Request, app: ContainerDep, tenant: ConsoleTenant, pager: PageDep,
    recipient: Annotated[str, Query()] = "", removed: Annotated[bool, Query()] = False,
) -> Response:
    return await _suppressions_page(request, app, tenant, pager, recipient, removed)


@router.post("/t/{tenant}/suppressions/add", name="console.add_suppression")
async def add(request: Request, app: ContainerDep, tenant: ConsoleTenant, form: CsrfForm) -> Response:
    """Suppress a recipient through the suppression service (origin operator)."""
    try:
        recipient = valid_address(form.get("recipient", ""), "recipient")
        reason = SuppressionReason(form.get("reason") or SuppressionReason.MANUAL)
    except (InvalidInput, ValueError) as exc:
        message = exc.message if isinstance(exc, InvalidInput) else "choose one of the listed reasons"
        return await _suppressions_page(request, app, tenant, Pager(1), "", False, status=400,
                                        add_error=message, add_form=form)
    entry, created = await add_suppression(app.ctx, tenant, recipient, reason)
    notice = (f"{entry.recipient} is now suppressed ({entry.reason.value})." if created
              else f"{entry.recipient} was already suppressed ({entry.reason.value}); nothing changed.")
    return done(request, request.url_for("console.suppressions", tenant=tenant).path, notice)


async def _confirm_page(
    request: Request, app: ContainerDep, tenant: str, recipient: str, *, status: int = 200, refusal: str | None = None,
) -> Response:
    async with app.ctx.uow(tenant) as uow:
        entry = await uow.suppressions.live(canonical_recipient(recipient))
    if entry is None:
        raise NotFound("suppression of", canonical_recipient(recipient))
    return render(request, "suppression_remove.html", http_status=status, section="suppressions", tenant=tenant,
                  entry=entry, refusal=refusal)


@router.get("/t/{tenant}/suppressions/remove", name="console.confirm_remove_suppression")
async def confirm_remove(
    request: Request, app: ContainerDep, tenant: ConsoleTenant, recipient: Annotated[str, Query()] = "",
) -> Response:
    """The confirm step before lifting a suppression (or why it cannot be lifted)."""
    return await _confirm_page(request, app, tenant, recipient)


@router.post("/t/{tenant}/suppressions/remove", name="console.remove_suppression")
async def remove(request: Request, app: ContainerDep, tenant: ConsoleTenant, form: CsrfForm) -> Response:
    """Lift one suppression through the suppression service, once confirmed; a refusal is shown."""
    recipient = canonical_recipient(form.get("recipient", ""))
    if form.get("confirm") != "yes":
        return await _confirm_page(request, app, tenant, recipient, status=400,
                                   refusal="Confirm the removal with the button on this page.")
    try:
        await remove_suppression(app.ctx, tenant, recipient)
    except (Conflict, UpstreamUnavailable) as exc:  # e.g. a spam complaint cannot be lifted
        return await _confirm_page(request, app, tenant, recipient, status=exc.status, refusal=exc.message)
    notice = f"{recipient} is no longer suppressed; sends to it are accepted again."
    return done(request, request.url_for("console.suppressions", tenant=tenant).path, notice)


@router.get("/t/{tenant}/limits", name="console.limits")
async def limits(request: Request, app: ContainerDep, tenant: ConsoleTenant) -> Response:
    return render(request, "limits.html", section="limits", tenant=tenant, view=await read_limits(app.ctx, tenant),
                  refusal=None)


@router.post("/t/{tenant}/limits", name="console.set_limits")
async def change_limits(
    request: Request, app: ContainerDep, tenant: ConsoleTenant, session: OperatorSession, form: CsrfForm,
) -> Response:
    """Replace the tenant's quota overrides (an empty field: the default); a refusal is shown on the page."""
    try:
        new = TenantLimits.parse(sends_per_second=_number(form.get("sends_per_second"), float),
                                 burst=_number(form.get("burst"), int), sends_per_day=_number(form.get("sends_per_day"), int))
    except InvalidInput as exc:
        return render(request, "limits.html", http_status=400, section="limits", tenant=tenant,
                      view=await read_limits(app.ctx, tenant), refusal=exc.message)
    view = await set_limits(app.ctx, tenant, new, author=session.author)
    e = view.effective
    notice = f"limits saved: {e.sends_per_second:g}/s, burst {e.burst}, {e.sends_per_day}/day."
    return done(request, request.url_for("console.limits", tenant=tenant).path, notice)


def _number(text: str | None, kind: type[float] | type[int]) -> Any:
    if not text or not text.strip():
        return None
    try:
        return kind(text.strip())
    except ValueError:
        raise InvalidInput(f"'{text.strip()}' is not a number") from None


