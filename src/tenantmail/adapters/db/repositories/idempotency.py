"""Idempotency records: (tenant, namespace, key) → request hash, state and stored response.

A record is inserted in the same transaction as the resource it answers for (the job), so it is
only ever seen committed with its response. "Still in flight" is therefore the moment a second
request with the same key races the first: its insert meets the first one's uncommitted row. On
PostgreSQL that insert waits for the first transaction; we bound the wait (``IN_FLIGHT_WAIT``)
and answer 409 past it, or the first commits (replay) or rolls back (this one proceeds). SQLite
serialises writers (``BEGIN IMMEDIATE``), so there the second simply sees the committed record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from tenantmail.adapters.db.repositories.base import TenantRepository
from tenantmail.adapters.db.tables import idempotency_records
from tenantmail.domain.errors import IdempotencyInFlight
from tenantmail.domain.idempotency import IdempotencyRecord

IN_FLIGHT_WAIT = "2s"  #: how long a racing request waits for the first one before answering 409
LOCK_NOT_AVAILABLE = "55P03"  #: PostgreSQL's SQLSTATE for an exceeded lock_timeout

t = idempotency_records
#: Built once per dialect (the columns come from the parameters): the send path's first statement.
INSERT_IF_ABSENT = {
    name: build(t).on_conflict_do_nothing().returning(t.c.key)
    for name, build in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
BOUND_LOCK_WAIT = text(f"SET LOCAL lock_timeout = '{IN_FLIGHT_WAIT}'")


def to_row(tenant_id: str, namespace: str, record: IdempotencyRecord) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id, "namespace": namespace, "key": record.key, "request_hash": record.request_hash,
        "state": record.state, "resource_e_id": record.resource_e_id, "response_status": record.response_status,
        "response_body": record.response_body, "created_at": record.created_at, "expires_at": record.expires_at,
    }


def from_mapping(m: Mapping[str, Any]) -> IdempotencyRecord:
    return IdempotencyRecord(
        key=m["key"], request_hash=m["request_hash"], resource_e_id=m["resource_e_id"],
        response_status=m["response_status"], response_body=m["response_body"],
        created_at=m["created_at"], expires_at=m["expires_at"], state=m["state"],
    )


class IdempotencyRepository(TenantRepository):
    table = idempotency_records

    async def get(self, namespace: str, key: str) -> IdempotencyRecord | None:
        stmt = self._select().where(t.c.namespace == namespace, t.c.key == key)
        row = (await self._conn.execute(stmt)).first()
        if row is None:
            return None
        return from_mapping(row._mapping)

    async def insert_if_absent(self, namespace: str, record: IdempotencyRecord) -> bool:
        """Insert a completed record; False when one with this key is already committed.

        Raises IdempotencyInFlight when another transaction holds an uncommitted record with the
        same key for longer than ``IN_FLIGHT_WAIT``.
        """
        dialect = self._conn.dialect.name
        values = to_row(self.tenant_id, namespace, record)
        if dialect == "postgresql":
            await self._conn.execute(BOUND_LOCK_WAIT)
        try:
            inserted = (await self._conn.execute(INSERT_IF_ABSENT[dialect], values)).first()
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                raise IdempotencyInFlight() from exc
            raise
        return inserted is not None

    async def discard(self, namespace: str, key: str) -> None:
        """Drop an expired record so its key can be used afresh."""
        await self._conn.execute(
            delete(t).where(self._tenant(), t.c.namespace == namespace, t.c.key == key)
        )
