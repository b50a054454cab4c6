"""A tenant's quota row (``email_tenant_quotas``): its limit overrides, read and replaced by the
operator. The bucket columns are the send path's (``adapters/db/intake/sends.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from tenantmail.adapters.db.repositories.base import TenantRepository
from tenantmail.adapters.db.tables import tenant_quotas
from tenantmail.domain.quota import SECONDS_PER_DAY, TenantLimits


class TenantQuotaRepository(TenantRepository):
    table = tenant_quotas

    async def limits(self) -> tuple[TenantLimits, str | None, datetime | None]:
        """The overrides (all None when never set), who set them and when."""
        c = tenant_quotas.c
        row = (await self._conn.execute(
            select(c.sends_per_second, c.burst, c.sends_per_day, c.limits_author, c.limits_updated_at)
            .where(self._tenant()))).first()
        if row is None:
            return TenantLimits(), None, None
        return TenantLimits(row.sends_per_second, row.burst, row.sends_per_day), row.limits_author, row.limits_updated_at

    async def set_limits(self, limits: TenantLimits, *, author: str, now: datetime, full_bucket: int) -> None:
        """Replace the overrides; a tenant that never sent gets its bucket, full (``full_bucket``)."""
        values = {"sends_per_second": limits.sends_per_second, "burst": limits.burst,
                  "sends_per_day": limits.sends_per_day, "limits_author": author, "limits_updated_at": now}
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(tenant_quotas).values(
            tenant_id=self.tenant_id, tokens=float(full_bucket), refilled_at=now.timestamp(),
            day=int(now.timestamp() // SECONDS_PER_DAY), day_count=0, **values)
        await self._conn.execute(stmt.on_conflict_do_update(index_elements=["tenant_id"], set_=values))
