"""A tenant's send quotas as the operator sees and sets them: ``GET/PUT /tenant-limits``, the CLI
and the console (SPEC §17 "Quotas"). A changed limit applies from the tenant's next send, in every
API process: the send's statement reads it from the same row as the bucket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tenantmail.domain.quota import EffectiveLimits, TenantLimits
from tenantmail.services.context import ServiceContext
from tenantmail.services.submit_send import default_limits


@dataclass(frozen=True)
class LimitsView:
    tenant_id: str
    overrides: TenantLimits  #: None each: the default
    effective: EffectiveLimits
    author: str | None
    updated_at: datetime | None


async def read_limits(ctx: ServiceContext, tenant_id: str) -> LimitsView:
    async with ctx.uow(tenant_id) as uow:
        overrides, author, at = await uow.tenant_quotas.limits()
    return LimitsView(tenant_id, overrides, overrides.over(default_limits(ctx.settings)), author, at)


async def set_limits(ctx: ServiceContext, tenant_id: str, limits: TenantLimits, *, author: str) -> LimitsView:
    effective = limits.over(default_limits(ctx.settings))
    now = ctx.clock()
    async with ctx.uow(tenant_id) as uow:
        await uow.tenant_quotas.set_limits(limits, author=author, now=now, full_bucket=effective.burst)
        await uow.commit()
    ctx.telemetry.emit("email.tenant_limits.changed", tenant_id=tenant_id, author=author,
                       sends_per_second=limits.sends_per_second, burst=limits.burst, sends_per_day=limits.sends_per_day)
    return LimitsView(tenant_id, limits, effective, author, now)
