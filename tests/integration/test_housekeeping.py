"""Expired idempotency records and old finished notifications are purged once per cluster per hour;
live records and pending notifications stay."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.adapters.db.tables import idempotency_records
from tenantmail.adapters.db.tables import notification_deliveries as d
from tenantmail.bootstrap import Container
from tenantmail.services.housekeeping import purge_tick

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def _record(engine: AsyncEngine, tenant: str, key: str, expires_at: datetime) -> None:
    async with engine.begin() as conn:
        await conn.execute(idempotency_records.insert().values(
            tenant_id=tenant, namespace="job", key=key, request_hash="h", state="completed",
            created_at=expires_at - timedelta(hours=24), expires_at=expires_at,
        ))


async def _keys(engine: AsyncEngine) -> set[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(idempotency_records.c.tenant_id, idempotency_records.c.key))
        return {(tenant, key) for tenant, key in rows}


async def test_expired_records_of_every_tenant_go_and_live_ones_stay(engine: AsyncEngine, app_container: Container) -> None:
    for i in range(3):
        await _record(engine, f"tenant-{i}", "old", NOW - timedelta(minutes=1))
    await _record(engine, "tenant-0", "live", NOW + timedelta(hours=1))
    ctx = app_container.ctx

    assert await ctx.housekeeping.purge_expired_idempotency(NOW, 2) == 2  # bounded batches
    assert await purge_tick(replace(ctx, clock=lambda: NOW)) == 1
    assert await _keys(engine) == {("tenant-0", "live")}


async def test_the_purge_runs_once_per_hour_across_workers(engine: AsyncEngine, app_container: Container) -> None:
    ctx = replace(app_container.ctx, clock=lambda: NOW)
    await _record(engine, "tenant-a", "old", NOW - timedelta(minutes=1))
    assert await purge_tick(ctx) == 1
    await _record(engine, "tenant-a", "older", NOW - timedelta(minutes=1))
    assert await purge_tick(ctx) == 0  # the tick is not due again for an hour
    assert await _keys(engine) == {("tenant-a", "older")}


async def test_finished_notifications_older_than_the_log_days_go_and_pending_ones_stay(
    engine: AsyncEngine, app_container: Container,
) -> None:
    old, recent = NOW - timedelta(days=8), NOW - timedelta(days=1)
    async with engine.begin() as conn:
        for n, (state, created) in enumerate([("delivered", old), ("failed", old), ("pending", old),
                                               ("delivered", recent)]):
            await conn.execute(d.insert().values(
                message_id=f"msg_{n}", tenant_id="tenant-a", endpoint_e_id="e", event_type="job.sent",
                subject_id=f"j{n}", occurred_at=created, state=state, attempts=1, created_at=created))
    assert await purge_tick(replace(app_container.ctx, clock=lambda: NOW)) == 2
    async with engine.connect() as conn:
        left = {row.message_id for row in await conn.execute(select(d.c.message_id))}
    assert left == {"msg_2", "msg_3"}  # the pending one and the recent one
