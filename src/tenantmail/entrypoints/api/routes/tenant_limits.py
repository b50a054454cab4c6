"""``GET/PUT /tenant-limits``: the send quotas of the tenant of ``X-Tenant-Id`` (SPEC §17 "Quotas")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tenantmail.domain.quota import TenantLimits
from tenantmail.entrypoints.api.deps import Author, ContainerDep, Tenant
from tenantmail.entrypoints.api.json_route import JsonRoute
from tenantmail.entrypoints.api.schemas import error_responses
from tenantmail.entrypoints.api.schemas_tenant_limits import TenantLimitsIn, TenantLimitsOut, limits_body
from tenantmail.services.tenant_limits import read_limits, set_limits

router = APIRouter(route_class=JsonRoute)  # the bounded JSON parser (SPEC §14)


@router.get("/tenant-limits", response_model=TenantLimitsOut, responses=error_responses(400),
            summary="The tenant's send quotas (overrides and what applies)")
async def get_tenant_limits(app: ContainerDep, tenant: Tenant) -> dict[str, Any]:
    """The tenant's overrides (``null``: none) and the limits that apply to its sends (the
    overrides, else the service defaults)."""
    return limits_body(await read_limits(app.ctx, tenant))


@router.put("/tenant-limits", response_model=TenantLimitsOut, responses=error_responses(400),
            summary="Replace the tenant's send quota overrides (null: the default)")
async def put_tenant_limits(body: TenantLimitsIn, app: ContainerDep, tenant: Tenant, author: Author) -> dict[str, Any]:
    """Replaces every override at once: a field left out or ``null`` falls back to the service
    default. Answers what now applies."""
    limits = TenantLimits.parse(sends_per_second=body.sendsPerSecond, burst=body.burst, sends_per_day=body.sendsPerDay)
    return limits_body(await set_limits(app.ctx, tenant, limits, author=author))
