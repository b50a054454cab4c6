"""Shapes of ``GET/PUT /tenant-limits`` (SPEC §17 "Quotas"); the CLI prints the same JSON."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tenantmail.entrypoints.api.schemas import iso
from tenantmail.services.tenant_limits import LimitsView


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


def limits_body(view: LimitsView) -> dict[str, Any]:
    o, e = view.overrides, view.effective
    return {"tenantId": view.tenant_id, "sendsPerSecond": o.sends_per_second, "burst": o.burst,
            "sendsPerDay": o.sends_per_day,
            "effective": {"sendsPerSecond": e.sends_per_second, "burst": e.burst, "sendsPerDay": e.sends_per_day},
            "updatedBy": view.author, "updatedAt": iso(view.updated_at) if view.updated_at else None}
