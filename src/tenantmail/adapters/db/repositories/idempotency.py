"""Idempotency records: (tenant, namespace, key) → request hash, state and stored response.

A record is written in the same transaction as the resource it answers for (the job), so it is
only ever seen committed with its response: the send path writes both in one unit
(``adapters/db/intake/sends.py``). Here: the row conversions it shares, and reading a record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tenantmail.adapters.db.repositories.base import TenantRepository
from tenantmail.adapters.db.tables import idempotency_records
from tenantmail.domain.idempotency import IdempotencyRecord

t = idempotency_records


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
