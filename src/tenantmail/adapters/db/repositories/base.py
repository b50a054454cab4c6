"""What every tenant-scoped repository shares: the connection and the tenant filter."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection


class TenantRepository:
    table: Table

    def __init__(self, conn: AsyncConnection, tenant_id: str):
        self._conn = conn
        self.tenant_id = tenant_id

    def _tenant(self) -> ColumnElement[bool]:
        return self.table.c.tenant_id == self.tenant_id

    def _select(self, *columns: Any) -> Select[Any]:
        return select(*(columns or (self.table,))).where(self._tenant())


def page_bounds(limit: int, offset: int, *, max_limit: int = 500) -> tuple[int, int]:
    """Clamp paging parameters (already validated at the edge) to safe bounds."""
    return max(1, min(limit, max_limit)), max(0, offset)
