"""``GET/PUT /tenant-limits``: the send quotas of the tenant of ``X-Tenant-Id`` (SPEC §17 "Quotas")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tenantmail.domain.quota import TenantLimits
from tenantmail.entrypoints.api.deps import Author, ContainerDep, Tenant
from tenantmail.entrypoints.api.schemas import error_responses, iso
from tenantmail.services.tenant_limits import LimitsView, read_limits, set_limits

router = APIRouter()


class TenantLimitsIn(BaseModel):
    """Each limit; null or left out: the default from settings."""

    model_config = ConfigDict(extra="forbid")

    sendsPerSecond: float | None = Field(default=None, gt=0, description="Sustained sends per second.")
    burst: int | None = Field(default=None, ge=1, description="Sends allowed at once (the bucket's size).")
    sendsPerDay: int | None = Field(default=None, ge=1, description="Sends per UTC day.")


class LimitsOut(BaseModel):
    sendsPerSecond: float
    burst: int
    sendsPerDay: int


class TenantLimitsOut(BaseModel):
    tenantId: str
    sendsPerSecond: float | None = Field(description="The override; null: the default.")
    burst: int | None
    sendsPerDay: int | None
    effective: LimitsOut = Field(description="What applies: the overrides over the defaults.")
    updatedBy: str | None
    updatedAt: str | None


def _out(view: LimitsView) -> dict[str, Any]:
    o, e = view.overrides, view.effective
    return {"tenantId": view.tenant_id, "sendsPerSecond": o.sends_per_second, "burst": o.burst,
            "sendsPerDay": o.sends_per_day,
            "effective": {"sendsPerSecond": e.sends_per_second, "burst": e.burst, "sendsPerDay": e.sends_per_day},
            "updatedBy": view.author, "updatedAt": iso(view.updated_at) if view.updated_at else None}


@router.get("/tenant-limits", response_model=TenantLimitsOut, responses=error_responses(400),
            summary="The tenant's send quotas (overrides and what applies)")
async def get_tenant_limits(app: ContainerDep, tenant: Tenant) -> dict[str, Any]:
    return _out(await read_limits(app.ctx, tenant))


@router.put("/tenant-limits", response_model=TenantLimitsOut, responses=error_responses(400),
            summary="Replace the tenant's send quota overrides (null: the default)")
async def put_tenant_limits(body: TenantLimitsIn, app: ContainerDep, tenant: Tenant, author: Author) -> dict[str, Any]:
    limits = TenantLimits.parse(sends_per_second=body.sendsPerSecond, burst=body.burst, sends_per_day=body.sendsPerDay)
    return _out(await set_limits(app.ctx, tenant, limits, author=author))
