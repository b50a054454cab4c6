"""Notification pages: a tenant's endpoints (add one, enable/disable), and one endpoint's delivery
log with a manual retry — through the same service as the API and the CLI."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from tenantmail.domain.errors import InvalidInput
from tenantmail.domain.notification import DeliveryState, NotificationType
from tenantmail.entrypoints.api.deps import ContainerDep
from tenantmail.entrypoints.console.auth import ConsoleTenant, CsrfForm
from tenantmail.entrypoints.console.web import ConsoleRoute, Pager, choice, page_param, redirect, render
from tenantmail.services import manage_notifications as notifications
from tenantmail.services.manage_notifications import EndpointChange

router = APIRouter(route_class=ConsoleRoute)
PageDep = Annotated[Pager, Depends(page_param)]


async def _endpoints_page(request: Request, app: ContainerDep, tenant: str, *, status: int = 200,
                          refusal: str | None = None, created: object = None, secret: str | None = None) -> Response:
    items, total = await notifications.list_endpoints(app.ctx, tenant, limit=100)
    return render(request, "notifications.html", http_status=status, section="notifications", tenant=tenant,
                  items=items, total=total, types=list(NotificationType), refusal=refusal, created=created,
                  secret=secret)


@router.get("/t/{tenant}/notifications", name="console.notifications")
async def endpoints(request: Request, app: ContainerDep, tenant: ConsoleTenant) -> Response:
    return await _endpoints_page(request, app, tenant)


@router.post("/t/{tenant}/notifications", name="console.create_notification_endpoint")
async def create(request: Request, app: ContainerDep, tenant: ConsoleTenant, form: CsrfForm) -> Response:
    """Add an endpoint; its secret is on the answer page only (as in the API)."""
    try:
        kinds = [t for t in NotificationType if form.get(f"type:{t.value}")]  # one checkbox per type
        endpoint, secret = await notifications.create_endpoint(
            app.ctx, tenant, url=form.get("url", "").strip(), event_types=kinds,
            description=form.get("description", ""))
    except (InvalidInput, ValueError) as exc:
        return await _endpoints_page(request, app, tenant, status=400, refusal=getattr(exc, "message", str(exc)))
    return await _endpoints_page(request, app, tenant, status=201, created=endpoint, secret=secret)


@router.get("/t/{tenant}/notifications/{e_id}", name="console.notification_endpoint")
async def endpoint(
    request: Request, app: ContainerDep, tenant: ConsoleTenant, e_id: str, pager: PageDep,
    state: Annotated[str, Query()] = "",
) -> Response:
    found = await notifications.get_endpoint(app.ctx, tenant, e_id)  # NotFound → 404 page
    states = [DeliveryState(s) for s in choice(state, DeliveryState, "delivery state") or ()]
    items, total = await notifications.list_deliveries(app.ctx, tenant, e_id, states=states, limit=pager.size,
                                                       offset=pager.offset)
    return render(request, "notification_endpoint.html", section="notifications", tenant=tenant, endpoint=found,
                  items=items, pager=pager.of(total), states=list(DeliveryState), state=state)


@router.post("/t/{tenant}/notifications/{e_id}/enabled", name="console.notification_enabled")
async def set_enabled(request: Request, app: ContainerDep, tenant: ConsoleTenant, e_id: str, form: CsrfForm) -> Response:
    await notifications.update_endpoint(app.ctx, tenant, e_id, EndpointChange(enabled=form.get("enabled") == "true"))
    return redirect(request.url_for("console.notification_endpoint", tenant=tenant, e_id=e_id).path)


@router.post("/t/{tenant}/notifications/{e_id}/retry", name="console.notification_retry")
async def retry(request: Request, app: ContainerDep, tenant: ConsoleTenant, e_id: str, form: CsrfForm) -> Response:
    await notifications.retry_delivery(app.ctx, tenant, e_id, form.get("delivery", ""))
    return redirect(request.url_for("console.notification_endpoint", tenant=tenant, e_id=e_id).path)
