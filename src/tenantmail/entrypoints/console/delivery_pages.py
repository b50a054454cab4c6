"""Delivery pages: jobs, one job with its webhook events, the suppression list, the send quotas."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from tenantmail.domain.errors import Conflict, InvalidInput, UpstreamUnavailable
from tenantmail.domain.job import JobStatus, canonical_recipient
from tenantmail.domain.job_search import JobSearch
from tenantmail.entrypoints.api.deps import ContainerDep
from tenantmail.domain.quota import TenantLimits
from tenantmail.entrypoints.console.auth import ConsoleTenant, CsrfForm, OperatorSession
from tenantmail.entrypoints.console.web import ConsoleRoute, Pager, choice, page_param, redirect, render
from tenantmail.services.manage_suppression import remove_suppression
from tenantmail.services.tenant_limits import read_limits, set_limits

router = APIRouter(route_class=ConsoleRoute)

PageDep = Annotated[Pager, Depends(page_param)]
MAX_EVENTS_SHOWN = 500


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
    async with app.ctx.uow(tenant) as uow:
        found = await uow.jobs.get(e_id)  # NotFound (also for another tenant's) → 404 page
        events, total = await uow.events.list(job_e_id=e_id, limit=MAX_EVENTS_SHOWN)
    return render(
        request, "job.html", section="jobs", tenant=tenant, job=found, events=events, events_total=total,
    )


async def _suppressions_page(
    request: Request, app: ContainerDep, tenant: str, pager: Pager, recipient: str, include_removed: bool,
    *, status: int = 200, refusal: str | None = None,
) -> Response:
    async with app.ctx.uow(tenant) as uow:
        items, total = await uow.suppressions.list(
            recipient=canonical_recipient(recipient) or None, include_removed=include_removed,
            limit=pager.size, offset=pager.offset,
        )
    return render(
        request, "suppressions.html", http_status=status, section="suppressions", tenant=tenant, items=items, pager=pager.of(total),
        recipient=recipient, include_removed=include_removed, refusal=refusal,
    )


@router.get("/t/{tenant}/suppressions", name="console.suppressions")
async def suppressions(
    request: Request, app: ContainerDep, tenant: ConsoleTenant, pager: PageDep,
    recipient: Annotated[str, Query()] = "", removed: Annotated[bool, Query()] = False,
) -> Response:
    return await _suppressions_page(request, app, tenant, pager, recipient, removed)


@router.post("/t/{tenant}/suppressions/remove", name="console.remove_suppression")
async def remove(
    request: Request, app: ContainerDep, tenant: ConsoleTenant, form: CsrfForm,
) -> Response:
    """Lift one suppression through the suppression service; a refusal is shown on the list."""
    recipient = canonical_recipient(form.get("recipient", ""))
    try:
        await remove_suppression(app.ctx, tenant, recipient)
    except (Conflict, UpstreamUnavailable) as exc:  # e.g. a spam complaint cannot be lifted
        return await _suppressions_page(
            request, app, tenant, Pager(1), "", False, status=exc.status, refusal=exc.message,
        )
    return redirect(request.url_for("console.suppressions", tenant=tenant).path)


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
    await set_limits(app.ctx, tenant, new, author=session.author)
    return redirect(request.url_for("console.limits", tenant=tenant).path)


def _number(text: str | None, kind: type[float] | type[int]) -> Any:
    if not text or not text.strip():
        return None
    try:
        return kind(text.strip())
    except ValueError:
        raise InvalidInput(f"'{text.strip()}' is not a number") from None
