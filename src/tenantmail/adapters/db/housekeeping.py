"""System-level clean-up across tenants: rows whose purpose has ended (implements ``Housekeeping``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.adapters.db.tables import idempotency_records, notification_deliveries
from tenantmail.domain.notification import DeliveryState

t = idempotency_records


class DatabaseHousekeeping:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def purge_expired_idempotency(self, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` idempotency records expired at ``now``; return how many.

        Bounded batches keep each transaction short; the send path already treats an expired
        record as absent, so removing it changes no answer.
        """
        expired = (
            select(t.c.tenant_id, t.c.namespace, t.c.key).where(t.c.expires_at <= now).limit(limit)
        )
        async with self._engine.begin() as conn:
            rows = (await conn.execute(expired)).all()
            for tenant_id, namespace, key in rows:
                await conn.execute(delete(t).where(
                    t.c.tenant_id == tenant_id, t.c.namespace == namespace, t.c.key == key,
                    t.c.expires_at <= now,  # re-checked: a key reused meanwhile is live again
                ))
        return len(rows)

    async def purge_finished_notifications(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` delivered or given-up notifications created before ``before``
        (the delivery log's retention); pending ones are never touched. Return how many."""
        d = notification_deliveries
        finished = (select(d.c.seq).where(d.c.state.in_([DeliveryState.DELIVERED.value, DeliveryState.FAILED.value]),
                                          d.c.created_at < before).limit(limit))
        async with self._engine.begin() as conn:
            seqs = list((await conn.execute(finished)).scalars())
            if seqs:
                await conn.execute(delete(d).where(d.c.seq.in_(seqs), d.c.state != DeliveryState.PENDING.value))
        return len(seqs)
