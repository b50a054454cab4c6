"""Notification endpoints and the outbox, tenant-scoped, inside the unit of work.

``record`` writes an event to the outbox in the caller's transaction (the change that causes it),
with the one fan-out statement of ``intake/notifications.py``. Secrets are stored as given: the
service seals them (``services/manage_notifications.py``) before they reach here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from tenantmail.adapters.db.intake.dialects import DIALECTS
from tenantmail.adapters.db.intake.notifications import record_params, record_statement
from tenantmail.adapters.db.repositories.base import TenantRepository
from tenantmail.adapters.db.tables import notification_deliveries as deliveries
from tenantmail.adapters.db.tables import notification_endpoints as endpoints
from tenantmail.domain.errors import NotFound
from tenantmail.domain.notification import (
    DeliveryState,
    DisabledReason,
    Notification,
    NotificationDelivery,
    NotificationEndpoint,
    NotificationType,
    decode_types,
    encode_types,
)


def to_row(endpoint: NotificationEndpoint) -> dict[str, Any]:
    return {
        "e_id": endpoint.e_id, "tenant_id": endpoint.tenant_id, "url": endpoint.url,
        "description": endpoint.description, "event_types": encode_types(endpoint.event_types),
        "enabled": endpoint.enabled, "secret_ciphertext": endpoint.secret,
        "previous_secret_ciphertext": endpoint.previous_secret, "previous_secret_until": endpoint.previous_secret_until,
        "failing_since": endpoint.failing_since,
        "disabled_reason": endpoint.disabled_reason.value if endpoint.disabled_reason else None,
        "disabled_at": endpoint.disabled_at, "created_at": endpoint.created_at, "updated_at": endpoint.updated_at,
    }


def endpoint_from(m: Mapping[str, Any]) -> NotificationEndpoint:
    return NotificationEndpoint(
        e_id=m["e_id"], tenant_id=m["tenant_id"], url=m["url"], event_types=decode_types(m["event_types"]),
        description=m["description"], enabled=bool(m["enabled"]), secret=m["secret_ciphertext"],
        previous_secret=m["previous_secret_ciphertext"], previous_secret_until=m["previous_secret_until"],
        failing_since=m["failing_since"],
        disabled_reason=DisabledReason(m["disabled_reason"]) if m["disabled_reason"] else None,
        disabled_at=m["disabled_at"], created_at=m["created_at"], updated_at=m["updated_at"],
    )


def delivery_from(m: Mapping[str, Any]) -> NotificationDelivery:
    return NotificationDelivery(
        seq=m["seq"], message_id=m["message_id"], endpoint_e_id=m["endpoint_e_id"],
        type=NotificationType(m["event_type"]), subject_id=m["subject_id"], occurred_at=m["occurred_at"],
        state=DeliveryState(m["state"]), attempts=m["attempts"], next_attempt_at=m["next_attempt_at"],
        last_status_code=m["last_status_code"], last_latency_ms=m["last_latency_ms"], last_error=m["last_error"],
        last_attempt_at=m["last_attempt_at"], delivered_at=m["delivered_at"], created_at=m["created_at"],
    )


class NotificationRepository(TenantRepository):
    table = endpoints

    # --- the outbox -----------------------------------------------------------------------
    async def record(self, *notifications: Notification) -> None:
        """Each event, for every enabled endpoint of the tenant that takes its type (none: nothing)."""
        if not notifications:
            return
        d = DIALECTS[self._conn.dialect.name]
        params = [record_params(d, self.tenant_id, n) for n in notifications]
        await self._conn.exec_driver_sql(record_statement(d), params if len(params) > 1 else params[0])

    # --- endpoints ------------------------------------------------------------------------
    async def add(self, endpoint: NotificationEndpoint) -> None:
        await self._conn.execute(insert(endpoints).values(**to_row(endpoint)))

    async def get(self, e_id: str, *, for_update: bool = False) -> NotificationEndpoint:
        stmt = self._select().where(endpoints.c.e_id == e_id)
        if for_update and self._conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self._conn.execute(stmt)).first()
        if row is None:
            raise NotFound("notification endpoint", e_id)
        return endpoint_from(row._mapping)

    async def get_many(self, e_ids: Iterable[str]) -> list[NotificationEndpoint]:
        """Those of ``e_ids`` that exist (in no particular order)."""
        rows = await self._conn.execute(self._select().where(endpoints.c.e_id.in_(list(e_ids))))
        return [endpoint_from(r._mapping) for r in rows]

    async def list(self, *, limit: int, offset: int) -> tuple[list[NotificationEndpoint], int]:
        rows, total = await self._page(self._select(), (endpoints.c.created_at, endpoints.c.e_id), limit, offset)
        return [endpoint_from(r._mapping) for r in rows], total

    async def save(self, endpoint: NotificationEndpoint) -> None:
        values = to_row(endpoint)
        for key in ("e_id", "tenant_id", "created_at"):
            values.pop(key)
        await self._conn.execute(update(endpoints).where(self._tenant(), endpoints.c.e_id == endpoint.e_id)
                                 .values(**values))

    async def delete(self, e_id: str) -> None:
        """The endpoint and its outbox rows (nothing more is sent to it)."""
        await self._conn.execute(delete(deliveries).where(deliveries.c.tenant_id == self.tenant_id,
                                                          deliveries.c.endpoint_e_id == e_id))
        await self._conn.execute(delete(endpoints).where(self._tenant(), endpoints.c.e_id == e_id))

    # --- the delivery log -----------------------------------------------------------------
    def _deliveries(self, endpoint_e_id: str) -> Any:
        return select(deliveries).where(deliveries.c.tenant_id == self.tenant_id,
                                        deliveries.c.endpoint_e_id == endpoint_e_id)

    async def deliveries(
        self, endpoint_e_id: str, *, states: Sequence[DeliveryState] = (), limit: int, offset: int,
    ) -> tuple[list[NotificationDelivery], int]:
        """Newest first."""
        stmt = self._deliveries(endpoint_e_id)
        if states:
            stmt = stmt.where(deliveries.c.state.in_([s.value for s in states]))
        rows, total = await self._page(stmt, (deliveries.c.seq.desc(),), limit, offset)
        return [delivery_from(r._mapping) for r in rows], total

    async def delivery(self, endpoint_e_id: str, message_id: str) -> NotificationDelivery:
        row = (await self._conn.execute(
            self._deliveries(endpoint_e_id).where(deliveries.c.message_id == message_id))).first()
        if row is None:
            raise NotFound("notification delivery", message_id)
        return delivery_from(row._mapping)

    async def retry(self, endpoint_e_id: str, message_id: str, now: datetime) -> None:
        """Due now again (a failed delivery pending once more); a delivered one is sent again."""
        await self._conn.execute(
            update(deliveries)
            .where(deliveries.c.tenant_id == self.tenant_id, deliveries.c.endpoint_e_id == endpoint_e_id,
                   deliveries.c.message_id == message_id)
            .values(state=DeliveryState.PENDING.value, next_attempt_at=now, lease_owner=None, lease_until=None,
                    created_at=now)
        )
