"""Read stored delivery events: a tenant's, or one job's (``GET /job/{eId}/events``, the CLI)."""

from __future__ import annotations

from tenantmail.domain.delivery_event import StoredEvent
from tenantmail.services.context import ServiceContext


async def list_events(
    ctx: ServiceContext, tenant_id: str, *, job_e_id: str | None = None, limit: int = 50,
    offset: int = 0,
) -> tuple[list[StoredEvent], int]:
    """A page of events, oldest first; NotFound when ``job_e_id`` is not a job of this tenant."""
    async with ctx.uow(tenant_id) as uow:
        if job_e_id is not None:
            await uow.jobs.get(job_e_id)
        return await uow.events.list(job_e_id=job_e_id, limit=limit, offset=offset)
