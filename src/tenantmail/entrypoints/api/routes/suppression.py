"""Routes for a tenant's suppression list (SPEC §7)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from tenantmail.domain.suppression import SuppressionReason
from tenantmail.entrypoints.api.deps import ContainerDep, Page, Tenant
from tenantmail.entrypoints.api.json_route import JsonRoute
from tenantmail.entrypoints.api.schemas import PageOf, error_responses
from tenantmail.entrypoints.api.schemas_suppression import SuppressionIn, SuppressionOut
from tenantmail.services import manage_suppression

router = APIRouter(route_class=JsonRoute)


@router.get("/suppression", response_model=PageOf[SuppressionOut], responses=error_responses(400),
            summary="Live suppression entries of the tenant, newest first")
async def list_suppressions(
    tenant: Tenant, page: Page, app: ContainerDep,
    recipient: Annotated[str | None, Query(max_length=320, description="One address.")] = None,
    reason: Annotated[list[SuppressionReason] | None, Query(description="Any of these reasons.")] = None,
) -> PageOf[SuppressionOut]:
    """The tenant's live suppression entries, newest first, filtered by recipient and reason,
    paginated."""
    entries, total = await manage_suppression.list_suppressions(
        app.ctx, tenant, recipient=recipient, reasons=reason, limit=page.limit, offset=page.offset,
    )
    return PageOf[SuppressionOut](items=[SuppressionOut.of(e) for e in entries], total=total,
                                  limit=page.limit, offset=page.offset)


@router.post("/suppression", response_model=SuppressionOut, status_code=201,
             responses={200: {"model": SuppressionOut, "description": "Already suppressed: the live entry"},
                        **error_responses(400)},
             summary="Suppress a recipient (201; 200 with the existing entry when already suppressed)")
async def add_suppression(body: SuppressionIn, tenant: Tenant, app: ContainerDep, response: Response) -> SuppressionOut:
    """Suppresses a recipient for the tenant (origin operator): 201, or 200 with the live entry
    when already suppressed."""
    entry, created = await manage_suppression.add_suppression(app.ctx, tenant, body.recipient, body.reason)
    if not created:
        response.status_code = 200
    return SuppressionOut.of(entry)


@router.post("/suppression/{recipient}/remove", response_model=SuppressionOut,
             responses=error_responses(404, 409),
             summary="Lift a suppression here and on the tenant's Postmark outbound stream")
async def remove_suppression(recipient: str, tenant: Tenant, app: ContainerDep) -> SuppressionOut:
    """Lifts the recipient's suppression here and asks Postmark to delete its own; 409 for a spam
    complaint."""
    return SuppressionOut.of(await manage_suppression.remove_suppression(app.ctx, tenant, recipient))
