"""Idempotency records: (tenant, namespace, key) → request hash, state and stored response."""

from __future__ import annotations

from tenantmail.adapters.db.repositories.base import TenantRepository
from tenantmail.adapters.db.tables import idempotency_records


class IdempotencyRepository(TenantRepository):
    table = idempotency_records
