"""The notification outbox as leased work (decisions D3, D20), across tenants.

A delivery worker claims due ``pending`` rows of enabled endpoints under a lease, as
``work_queue.claim_jobs`` claims jobs; a worker that dies leaves its lease to expire and the row is
claimed again (at least once: the receiver deduplicates by ``webhook-id``). A row is claimable
only when no earlier row of the same endpoint and subject is still pending: a job's later event
waits for its earlier one (rows of one subject are written in commit order, under the subject's
row lock, so ``seq`` is that order).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.adapters.db.tables import notification_deliveries as deliveries
from tenantmail.adapters.db.tables import notification_endpoints as endpoints
from tenantmail.domain.notification import DeliveryState, NotificationType
from tenantmail.services.ports.notifications import AttemptRecord, ClaimedDelivery

PENDING = DeliveryState.PENDING.value


class DatabaseNotificationQueue:
    def __init__(self, engine: AsyncEngine, *, owner: str, lease_seconds: float):
        self._engine = engine
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)
        self._skip_locked = engine.dialect.name == "postgresql"

    async def claim(self, now: datetime, limit: int, *, exclude_endpoints: Sequence[str] = ()) -> list[ClaimedDelivery]:
        d, earlier = deliveries, deliveries.alias("earlier")
        waits = exists(select(earlier.c.seq).where(
            earlier.c.endpoint_e_id == d.c.endpoint_e_id, earlier.c.subject_id == d.c.subject_id,
            earlier.c.seq < d.c.seq, earlier.c.state == PENDING,
        ))
        stmt = (
            select(d.c.seq, d.c.message_id, d.c.tenant_id, d.c.endpoint_e_id, d.c.event_type, d.c.subject_id,
                   d.c.occurred_at, d.c.body, d.c.attempts, d.c.created_at)
            .join(endpoints, and_(endpoints.c.e_id == d.c.endpoint_e_id, endpoints.c.enabled.is_(True)))
            .where(d.c.state == PENDING, d.c.next_attempt_at <= now,
                   or_(d.c.lease_until.is_(None), d.c.lease_until < now), ~waits)
            .order_by(d.c.next_attempt_at, d.c.seq).limit(limit)
        )
        if exclude_endpoints:
            stmt = stmt.where(d.c.endpoint_e_id.not_in(list(exclude_endpoints)))
        if self._skip_locked:
            stmt = stmt.with_for_update(of=d, skip_locked=True)
        async with self._engine.begin() as conn:
            rows = (await conn.execute(stmt)).all()
            if not rows:
                return []
            await conn.execute(update(d).where(d.c.seq.in_([r.seq for r in rows]))
                               .values(lease_owner=self.owner, lease_until=now + self.lease))
        return [ClaimedDelivery(
            seq=r.seq, message_id=r.message_id, tenant_id=r.tenant_id, endpoint_e_id=r.endpoint_e_id,
            type=NotificationType(r.event_type), subject_id=r.subject_id, occurred_at=r.occurred_at, body=r.body,
            attempts=r.attempts, created_at=r.created_at,
        ) for r in rows]

    async def keep_body(self, seq: int, body: str) -> str:
        """Store the rendered body unless one is stored already; return the one that is (every
        attempt then sends the same bytes)."""
        async with self._engine.begin() as conn:
            await conn.execute(update(deliveries).where(deliveries.c.seq == seq, deliveries.c.body.is_(None))
                               .values(body=body))
            stored = (await conn.execute(select(deliveries.c.body).where(deliveries.c.seq == seq))).scalar()
        return stored if stored is not None else body

    async def record_attempt(self, seq: int, attempt: AttemptRecord) -> bool:
        """The attempt's outcome, if our lease still holds (else another worker has the row now)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(deliveries).where(deliveries.c.seq == seq, deliveries.c.lease_owner == self.owner)
                .values(
                    state=attempt.state.value, attempts=deliveries.c.attempts + 1,
                    next_attempt_at=attempt.next_attempt_at, lease_owner=None, lease_until=None,
                    last_status_code=attempt.status_code, last_latency_ms=attempt.latency_ms,
                    last_error=(attempt.error or None) and attempt.error[:500], last_attempt_at=attempt.at,
                    delivered_at=attempt.at if attempt.state is DeliveryState.DELIVERED else deliveries.c.delivered_at,
                )
            )
        return (result.rowcount or 0) == 1
