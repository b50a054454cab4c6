"""Partition-wide pages: the tenant list (with onboarding) and the cross-tenant activity feed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from tenantmail.adapters.db.repositories.operator_activity import ActivitySearch, OperatorActivity
from tenantmail.domain.errors import DomainError
from tenantmail.domain.job import JobStatus
from tenantmail.domain.tenant import is_tenant_id
from tenantmail.entrypoints.api.deps import ContainerDep
from tenantmail.entrypoints.console.auth import CsrfForm, OperatorSession
from tenantmail.entrypoints.console.web import ConsoleRoute, PageError, Pager, choice, done, page_param, render
from tenantmail.services.create_configuration import NewConfiguration, create_configuration

router = APIRouter(route_class=ConsoleRoute)

#: The onboarding form's fields, as the page names them.
ONBOARDING_FIELDS = ("tenant", "slug", "from_name", "from_local_part", "reply_to")


async def _home(request: Request, app: ContainerDep, *, status: int = 200, form: dict[str, str] | None = None,
                error: str | None = None) -> Response:
    tenants = await OperatorActivity(app.engine).tenants(app.ctx.clock())
    values = {name: (form or {}).get(name, "") for name in ONBOARDING_FIELDS}
    return render(request, "home.html", http_status=status, tenants=tenants, form=values, error=error,
                  mail_zone=app.settings.effective_mail_zone_name)


@router.get("/", name="console.home")
async def home(request: Request, app: ContainerDep, _: OperatorSession, tenant: str = "") -> Response:
    """Every tenant of the partition with its configurations' states and this week's figures;
    ``tenant`` pre-fills the onboarding form (another configuration for a known tenant)."""
    return await _home(request, app, form={"tenant": tenant})


@router.post("/onboard", name="console.onboard")
async def onboard(request: Request, app: ContainerDep, session: OperatorSession, form: CsrfForm) -> Response:
    """Create a tenant's configuration through the same service as ``POST /configuration``."""
    tenant = form.get("tenant", "").strip()
    if not is_tenant_id(tenant):
        return await _home(request, app, status=400, form=form,
                           error="A tenant id is 1-128 characters of [A-Za-z0-9._:@-].")
    new = NewConfiguration(
        slug=form.get("slug", "").strip(), from_name=form.get("from_name", "").strip(),
        from_local_part=form.get("from_local_part", "").strip() or None,
        reply_to_email=form.get("reply_to", "").strip() or None,
    )
    try:
        created = await create_configuration(app.ctx, tenant, new, author=session.author)
    except DomainError as exc:  # invalid slug or name (400), slug in use (409)
        return await _home(request, app, status=exc.status, form=form, error=exc.message)
    url = request.url_for("console.configuration", tenant=tenant, e_id=created.config.e_id).path
    return done(request, url, f"Configuration {created.config.sending_domain} created (PENDING, LOCKED). "
                              "Provision it to create its Postmark server and DNS records.")


def _utc(value: str, what: str) -> datetime | None:
    """A ``datetime-local`` field (read as UTC), or None when empty."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise PageError(400, f"{what} must be a date and time like 2026-12-07T09:30") from None


@router.get("/activity", name="console.activity")
async def activity(
    request: Request, app: ContainerDep, _: OperatorSession, pager: Annotated[Pager, Depends(page_param)],
    tenant: str = "", recipient: str = "", subject: str = "", message_id: str = "", tag: str = "", status: str = "",
    since: Annotated[str, Query(alias="from")] = "", until: Annotated[str, Query(alias="to")] = "",
) -> Response:
    """Every tenant's jobs, newest first, searched by recipient, subject, MessageID, tag, status, time."""
    query = ActivitySearch(
        tenant=tenant.strip(), recipient=recipient.strip(), subject=subject.strip(), message_id=message_id.strip(),
        tag=tag.strip(), status=(choice(status, JobStatus, "job status") or [""])[0],
        created_from=_utc(since, "From"), created_to=_utc(until, "To"),
    )
    items, total = await OperatorActivity(app.engine).search(query, limit=pager.size, offset=pager.offset)
    return render(
        request, "activity.html", section="activity", items=items, pager=pager.of(total), statuses=list(JobStatus),
        query=query, since=since, until=until,
    )
