"""One use case, one transaction: the unit of work owns it and hands out tenant-scoped repositories.

    async with app.uow(tenant) as uow:
        ...
        await uow.commit()

Leaving the block without ``commit()`` rolls everything back, on success and on error alike.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tenantmail.adapters.db.engine import sqlite_writer_queue
from tenantmail.adapters.db.repositories.tenant_quotas import TenantQuotaRepository
from tenantmail.adapters.db.repositories.configurations import ConfigurationRepository
from tenantmail.adapters.db.repositories.events import EventRepository
from tenantmail.adapters.db.repositories.idempotency import IdempotencyRepository
from tenantmail.adapters.db.repositories.jobs import JobRepository
from tenantmail.adapters.db.repositories.notifications import NotificationRepository
from tenantmail.adapters.db.repositories.suppressions import SuppressionRepository


class UnitOfWork:
    configurations: ConfigurationRepository
    jobs: JobRepository
    events: EventRepository
    suppressions: SuppressionRepository
    idempotency: IdempotencyRepository
    notifications: NotificationRepository
    tenant_quotas: TenantQuotaRepository

    def __init__(self, engine: AsyncEngine, tenant_id: str):
        self._engine = engine
        self.tenant_id = tenant_id
        self._conn: AsyncConnection | None = None
        self._writer_queue: asyncio.Lock | None = None

    async def __aenter__(self) -> UnitOfWork:
        self._writer_queue = sqlite_writer_queue(self._engine)
        if self._writer_queue is not None:
            await self._writer_queue.acquire()
        try:
            self._conn = await self._engine.connect()  # statements autobegin the transaction
        except BaseException:
            self._release_writer_queue()
            raise
        conn, tenant = self._conn, self.tenant_id
        self.configurations = ConfigurationRepository(conn, tenant)
        self.jobs = JobRepository(conn, tenant)
        self.events = EventRepository(conn, tenant)
        self.suppressions = SuppressionRepository(conn, tenant)
        self.idempotency = IdempotencyRepository(conn, tenant)
        self.notifications = NotificationRepository(conn, tenant)
        self.tenant_quotas = TenantQuotaRepository(conn, tenant)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        try:
            if self._conn.in_transaction():
                await self._conn.rollback()
        finally:
            try:
                await self._conn.close()
            finally:
                self._conn = None
                self._release_writer_queue()

    def _release_writer_queue(self) -> None:
        if self._writer_queue is not None:
            self._writer_queue.release()
            self._writer_queue = None

    async def commit(self) -> None:
        assert self._conn is not None, "unit of work not entered"
        await self._conn.commit()  # the next statement autobegins a new transaction

    async def rollback(self) -> None:
        assert self._conn is not None, "unit of work not entered"
        await self._conn.rollback()

