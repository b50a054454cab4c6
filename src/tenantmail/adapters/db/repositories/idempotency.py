"""Idempotency records: (tenant, namespace, key) → request hash, state and stored response.

A record is inserted in the same transaction as the resource it answers for (the job), so it is
only ever seen committed with its response. These are the unit-of-work reads and writes, which
the send path uses on SQLite: there writers are serialised (``BEGIN IMMEDIATE``), so a second
request with the same key simply sees the committed record. On PostgreSQL the send path writes
the record with its job in one statement on a direct connection, whose bounded lock wait turns a
key still held by an uncommitted request into 409 (``send_intake``, ``direct_pool``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from tenantmail.adapters.db.repositories.base import TenantRepository
from tenantmail.adapters.db.tables import idempotency_records
from tenantmail.domain.idempotency import IdempotencyRecord

t = idempotency_records
#: Built once per dialect (the columns come from the parameters): the send path's first statement.
INSERT_IF_ABSENT = {
    name: build(t).on_conflict_do_nothing().returning(t.c.key)
    for name, build in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


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
        """Insert a completed record; False when one with this key is already committed."""
        values = to_row(self.tenant_id, namespace, record)
        inserted = (await self._conn.execute(INSERT_IF_ABSENT[self._conn.dialect.name], values)).first()
        return inserted is not None

    async def discard(self, namespace: str, key: str) -> None:
        """Drop an expired record so its key can be used afresh."""
        await self._conn.execute(
            delete(t).where(self._tenant(), t.c.namespace == namespace, t.c.key == key)
        )
