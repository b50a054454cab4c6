"""Delivery events received from Postmark webhooks: stored once each, matched to their job.

Also home of the one query that is *not* tenant-scoped, :func:`find_tenant_of_configuration`: a
webhook call names a configuration (its Basic-auth username) but carries no X-Tenant-Id, so the
tenant is looked up from the configuration before anything else runs tenant-scoped.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.adapters.db.repositories.base import TenantRepository
from tenantmail.adapters.db.tables import configurations, events
from tenantmail.domain.delivery_event import DeliveryEvent, StoredEvent

#: Statements of the webhook path, built once (building one per call costs more CPU than running it).
INSERT_UNLESS_DUPLICATE = {
    name: build(events).on_conflict_do_nothing(index_elements=["dedup_key"]).returning(events.c.e_id)
    for name, build in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}



async def find_tenant_of_configuration(engine: AsyncEngine, e_id: str) -> str | None:
    """The tenant owning configuration ``e_id``, or None. Reveals nothing but the tenant id."""
    async with engine.connect() as conn:
        stmt = select(configurations.c.tenant_id).where(configurations.c.e_id == e_id)
        return (await conn.execute(stmt)).scalar_one_or_none()


class ConfigurationTenants:
    """:func:`find_tenant_of_configuration` with a per-process cache of the answers found.

    Safe to cache because a configuration never changes tenant (and a removed one keeps its row).
    Misses are not cached, so a configuration created a moment ago is found on the next call.
    Bounded: cleared when full (configurations per deployment are far fewer than the bound).
    """

    def __init__(self, engine: AsyncEngine, max_entries: int = 100_000) -> None:
        self.engine = engine
        self._known: dict[str, str] = {}
        self._max_entries = max_entries

    async def __call__(self, e_id: str) -> str | None:
        tenant = self._known.get(e_id)
        if tenant is None:
            tenant = await find_tenant_of_configuration(self.engine, e_id)
            if tenant is not None:
                if len(self._known) >= self._max_entries:
                    self._known.clear()
                self._known[e_id] = tenant
        return tenant


def to_row(
    event: DeliveryEvent, *, tenant_id: str, configuration_e_id: str, job_e_id: str | None, received_at: datetime,
) -> dict[str, Any]:
    """The row storing ``event`` (a fresh eId; the dedup key that makes a second copy a duplicate)."""
    return {
        "e_id": str(uuid.uuid4()), "tenant_id": tenant_id,
        "configuration_e_id": configuration_e_id, "job_e_id": job_e_id,
        "record_type": event.record_type, "message_id": event.message_id,
        "recipient": event.recipient, "occurred_at": event.occurred_at,
        "dedup_key": event.dedup_key(tenant_id, configuration_e_id),
        "payload": dict(event.payload), "received_at": received_at,
    }


def to_domain(row: Any) -> StoredEvent:
    m = row._mapping
    return StoredEvent(
        e_id=m["e_id"], tenant_id=m["tenant_id"], configuration_e_id=m["configuration_e_id"],
        job_e_id=m["job_e_id"], record_type=m["record_type"], message_id=m["message_id"],
        recipient=m["recipient"], occurred_at=m["occurred_at"], received_at=m["received_at"],
        payload=m["payload"],
    )


class EventRepository(TenantRepository):
    table = events

    async def add(
        self, event: DeliveryEvent, *, configuration_e_id: str, job_e_id: str | None,
        received_at: datetime,
    ) -> bool:
        """Store ``event`` unless an event with its dedup key exists; True when it was stored.

        ``ON CONFLICT DO NOTHING`` rather than catching the unique violation: a duplicate is an
        expected, frequent outcome (Postmark retries), and it costs no savepoint this way.
        """
        row = to_row(event, tenant_id=self.tenant_id, configuration_e_id=configuration_e_id,
                     job_e_id=job_e_id, received_at=received_at)
        stmt = INSERT_UNLESS_DUPLICATE[self._conn.dialect.name]
        return (await self._conn.execute(stmt, row)).scalar() is not None

    async def list(
        self, *, job_e_id: str | None = None, limit: int = 50, offset: int = 0,
    ) -> tuple[list[StoredEvent], int]:
        """Events oldest first (by the event's own time, then arrival), optionally of one job."""
        c = events.c
        stmt = self._matching(c.job_e_id == job_e_id if job_e_id is not None else None)
        rows, total = await self._page(stmt, (c.occurred_at, c.received_at, c.e_id), limit, offset)
        return [to_domain(r) for r in rows], total
