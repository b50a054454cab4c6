"""Suppression entries: at most one live entry per (tenant, recipient)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from tenantmail.adapters.db.repositories.base import TenantRepository
from tenantmail.adapters.db.tables import suppressions
from tenantmail.domain.errors import NotFound
from tenantmail.domain.suppression import SuppressionEntry, SuppressionOrigin, SuppressionReason


def to_row(entry: SuppressionEntry, tenant_id: str) -> dict[str, Any]:
    return {
        "id": entry.id, "tenant_id": tenant_id, "recipient": entry.recipient, "reason": entry.reason.value,
        "origin": entry.origin.value, "created_at": entry.created_at, "removed_at": entry.removed_at,
    }


def to_domain(row: Any) -> SuppressionEntry:
    return from_mapping(row._mapping)


def from_mapping(m: Mapping[str, Any]) -> SuppressionEntry:
    return SuppressionEntry(
        id=m["id"], tenant_id=m["tenant_id"], recipient=m["recipient"],
        reason=SuppressionReason(m["reason"]), origin=SuppressionOrigin(m["origin"]),
        created_at=m["created_at"], removed_at=m["removed_at"],
    )


class SuppressionRepository(TenantRepository):
    table = suppressions

    async def live(self, recipient: str) -> SuppressionEntry | None:
        stmt = self._select().where(suppressions.c.recipient == recipient, suppressions.c.removed_at.is_(None))
        row = (await self._conn.execute(stmt)).first()
        return to_domain(row) if row else None

    async def get(self, entry_id: str) -> SuppressionEntry:
        """An entry by its id, live or removed (NotFound otherwise)."""
        row = (await self._conn.execute(self._select().where(suppressions.c.id == entry_id))).first()
        if row is None:
            raise NotFound("suppression entry", entry_id)
        return to_domain(row)

    async def add_if_absent(self, entry: SuppressionEntry) -> SuppressionEntry:
        """Insert ``entry`` unless a live one exists for the recipient; return the live entry."""
        try:
            async with self._conn.begin_nested():
                await self._conn.execute(insert(suppressions).values(**to_row(entry, self.tenant_id)))
            return entry
        except IntegrityError:
            existing = await self.live(entry.recipient)
            assert existing is not None  # the unique live index said it is there
            return existing

    async def mark_removed(self, entry: SuppressionEntry) -> None:
        await self._conn.execute(
            update(suppressions).where(self._tenant(), suppressions.c.id == entry.id)
            .values(removed_at=entry.removed_at)
        )

    async def list(
        self, *, recipient: str | None = None, reason: list[str] | None = None,
        include_removed: bool = False, created_from: datetime | None = None,
        limit: int = 50, offset: int = 0,
    ) -> tuple[list[SuppressionEntry], int]:
        c = suppressions.c
        stmt = self._matching(
            None if include_removed else c.removed_at.is_(None),
            c.recipient == recipient if recipient else None,
            c.reason.in_(reason) if reason else None,
            c.created_at >= created_from if created_from else None,
        )
        rows, total = await self._page(stmt, (c.created_at.desc(), c.id), limit, offset)
        return [to_domain(r) for r in rows], total
