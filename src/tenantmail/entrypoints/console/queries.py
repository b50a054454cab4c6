"""Reads the console needs that the repositories do not offer (yet); candidates to fold into them.

Run inside the caller's tenant-scoped unit of work and filtered on its tenant id, exactly as a
repository query would be.
"""

from __future__ import annotations

from sqlalchemy import func, select

from tenantmail.adapters.db.tables import configurations
from tenantmail.adapters.db.unit_of_work import UnitOfWork


async def configuration_state_counts(uow: UnitOfWork) -> dict[tuple[str, str], int]:
    """How many of the tenant's configurations are in each (operational, administrative) pair."""
    c = configurations.c
    stmt = (
        select(c.operational_status, c.administrative_status, func.count())
        .where(c.tenant_id == uow.tenant_id)
        .group_by(c.operational_status, c.administrative_status)
    )
    return {(op, admin): n for op, admin, n in await uow.connection.execute(stmt)}
