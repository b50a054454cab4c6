"""What every tenant-scoped repository shares: the connection and the tenant filter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, Table, func, select
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

    def _matching(self, *conditions: ColumnElement[bool] | None) -> Select[Any]:
        """The tenant's rows meeting every condition given (a None is a filter not asked for)."""
        return self._select().where(*(c for c in conditions if c is not None))

    async def _page(
        self, stmt: Select[Any], order: Sequence[Any], limit: int, offset: int, *, count_up_to: int | None = None,
    ) -> tuple[list[Row[Any]], int]:
        """One page of ``stmt`` in ``order``, and how many rows it has in all — or, with
        ``count_up_to``, ``count_up_to + 1`` when it has more than that (counting stops there)."""
        limit, offset = page_bounds(limit, offset)
        counted = stmt.limit(count_up_to + 1) if count_up_to is not None else stmt
        total = (await self._conn.execute(select(func.count()).select_from(counted.subquery()))).scalar_one()
        rows = await self._conn.execute(stmt.order_by(*order).limit(limit).offset(offset))
        return list(rows), total


def page_bounds(limit: int, offset: int, *, max_limit: int = 500) -> tuple[int, int]:
    """Clamp paging parameters (already validated at the edge) to safe bounds."""
    return max(1, min(limit, max_limit)), max(0, offset)
