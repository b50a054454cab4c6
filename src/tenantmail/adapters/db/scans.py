"""System-level (cross-tenant) reads of configurations: drift scans, key sweeps, the state gauge.

Everything else goes through the tenant-scoped unit of work; this module is the one deliberate
exception, kept apart so a cross-tenant query is never written by accident elsewhere. Pages are
keyset-paged on the eId (``e_id > after``), so a page costs the same at any depth and a sweep
that commits as it goes resumes where it stopped. Implements ``services.ports.ConfigurationScans``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.adapters.db.repositories.configurations import to_domain
from tenantmail.adapters.db.tables import configurations, notification_endpoints
from tenantmail.domain.configuration import EmailConfiguration, Operational
from tenantmail.services.ports import StoredSecret, StoredToken

c = configurations.c
#: Not scanned by drift: REMOVED is gone by design, PENDING has nothing outside the database yet.
NOT_SCANNED = (Operational.REMOVED.value, Operational.PENDING.value)
TOKEN_COLUMNS = (c.e_id, c.tenant_id, c.server_token_ciphertext, c.operational_status,
                 c.webhook_id, c.webhook_key_version)


def envelope_prefix(version: str) -> str:
    """The start of every token envelope written under ``version`` (see ``adapters/cipher.py``)."""
    return f"a1.k{version}:"


class ConfigurationScans:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def live_page(self, after: str | None, limit: int) -> list[EmailConfiguration]:
        """Configurations drift looks at: neither REMOVED nor PENDING, in eId order."""
        stmt = self._after(select(configurations).where(c.operational_status.not_in(NOT_SCANNED)), after)
        return [to_domain(row) for row in await self._rows(stmt.limit(limit))]

    async def count_by_state(self) -> dict[tuple[str, str], int]:
        """Configurations per (operational, administrative) state, for the state gauge."""
        stmt = select(c.operational_status, c.administrative_status, func.count()).group_by(
            c.operational_status, c.administrative_status
        )
        async with self._engine.connect() as conn:
            return {(op, admin): n for op, admin, n in await conn.execute(stmt)}

    async def count_live(self) -> int:
        stmt = select(func.count()).where(c.operational_status.not_in(NOT_SCANNED))
        async with self._engine.connect() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def token_page(
        self, after: str | None, limit: int, *, not_on_version: str | None = None
    ) -> list[StoredToken]:
        """Rows holding a token (removed ones too: their ciphertext still pins a key version)."""
        stmt = select(*TOKEN_COLUMNS).where(c.server_token_ciphertext.is_not(None))
        if not_on_version is not None:
            prefix = envelope_prefix(not_on_version)
            stmt = stmt.where(~c.server_token_ciphertext.startswith(prefix, autoescape=True))
        return [_token(row) for row in await self._rows(self._after(stmt, after).limit(limit))]

    async def stale_webhook_page(self, after: str | None, limit: int, *, current_version: str) -> list[StoredToken]:
        """Live rows whose webhook password was derived with another version than ``current_version``."""
        stmt = select(*TOKEN_COLUMNS).where(
            c.operational_status != Operational.REMOVED.value,
            c.webhook_id.is_not(None), c.server_token_ciphertext.is_not(None),
            or_(c.webhook_key_version.is_(None), c.webhook_key_version != current_version),
        )
        return [_token(row) for row in await self._rows(self._after(stmt, after).limit(limit))]

    async def secret_page(
        self, after: str | None, limit: int, *, not_on_version: str | None = None
    ) -> list[StoredSecret]:
        """Notification endpoints with their sealed secrets (the cipher of server tokens, so the
        same key versions): those with any secret not under ``not_on_version``, when given."""
        n = notification_endpoints.c
        stmt = select(n.e_id, n.tenant_id, n.secret_ciphertext, n.previous_secret_ciphertext)
        if not_on_version is not None:
            prefix = envelope_prefix(not_on_version)
            stmt = stmt.where(or_(~n.secret_ciphertext.startswith(prefix, autoescape=True),
                                  n.previous_secret_ciphertext.is_not(None)
                                  & ~n.previous_secret_ciphertext.startswith(prefix, autoescape=True)))
        if after is not None:
            stmt = stmt.where(n.e_id > after)
        rows = await self._rows(stmt.order_by(n.e_id).limit(limit))
        return [StoredSecret(row.e_id, row.tenant_id, tuple(s for s in (row.secret_ciphertext,
                                                                          row.previous_secret_ciphertext) if s))
                for row in rows]

    async def mark_webhook_key_version(self, e_id: str, version: str) -> None:
        """Record the version a webhook's password now derives from (after Postmark accepted it)."""
        async with self._engine.begin() as conn:
            await conn.execute(update(configurations).where(c.e_id == e_id).values(webhook_key_version=version))

    @staticmethod
    def _after(stmt: Select[Any], after: str | None) -> Select[Any]:
        if after is not None:
            stmt = stmt.where(c.e_id > after)
        return stmt.order_by(c.e_id)

    async def _rows(self, stmt: Select[Any]) -> list[Any]:
        async with self._engine.connect() as conn:
            return list(await conn.execute(stmt))


def _token(row: Any) -> StoredToken:
    return StoredToken(
        e_id=row.e_id, tenant_id=row.tenant_id, ciphertext=row.server_token_ciphertext,
        removed=row.operational_status == Operational.REMOVED.value,
        webhook_id=row.webhook_id, webhook_key_version=row.webhook_key_version,
    )
