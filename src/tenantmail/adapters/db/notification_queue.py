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

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
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

    async def keep_bodies(self, bodies: Sequence[tuple[int, str]]) -> None:
        """Store each rendered body unless one is stored already (every later attempt sends the
        stored bytes): one round trip for the whole claim."""
        if bodies:
            async with self._engine.begin() as conn:
                await conn.execute(KEEP_BODY, [{"row_seq": seq, "body": body} for seq, body in bodies])

    async def record_attempts(self, attempts: Sequence[tuple[int, AttemptRecord]]) -> None:
        """Each attempt's outcome, where our lease still holds (else another worker has the row
        now and will send it again: at least once); one round trip for all of them."""
        if not attempts:
            return
        async with self._engine.begin() as conn:
            await conn.execute(RECORD_ATTEMPT, [{
                "row_seq": seq, "row_owner": self.owner, "state": a.state.value, "next_attempt_at": a.next_attempt_at,
                "last_status_code": a.status_code, "last_latency_ms": a.latency_ms,
                "last_error": a.error[:500] if a.error else None, "last_attempt_at": a.at,
                "delivered_at": a.at if a.state is DeliveryState.DELIVERED else None,
            } for seq, a in attempts])


#: Built once (statement construction per call costs more CPU than the round trip).
D = deliveries
KEEP_BODY = update(D).where(D.c.seq == bindparam("row_seq"), D.c.body.is_(None)).values(body=bindparam("body"))
RECORD_ATTEMPT = (
    update(D).where(D.c.seq == bindparam("row_seq"), D.c.lease_owner == bindparam("row_owner"))
    .values(state=bindparam("state"), attempts=D.c.attempts + 1, next_attempt_at=bindparam("next_attempt_at"),
            lease_owner=None, lease_until=None, last_status_code=bindparam("last_status_code"),
            last_latency_ms=bindparam("last_latency_ms"), last_error=bindparam("last_error"),
            last_attempt_at=bindparam("last_attempt_at"),
            delivered_at=func.coalesce(bindparam("delivered_at", type_=D.c.delivered_at.type), D.c.delivered_at))
)
