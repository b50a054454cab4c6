"""Periodic clean-up, once per cluster per hour: expired idempotency records, and notifications
delivered or given up longer ago than ``TENANTMAIL_NOTIFICATION_LOG_DAYS`` (the delivery log)."""

from __future__ import annotations

from datetime import timedelta

from tenantmail.services.context import ServiceContext

TICK = "idempotency-purge"
INTERVAL = timedelta(hours=1)
BATCH = 1_000


async def purge_tick(ctx: ServiceContext) -> int:
    """Worker step: when this worker wins the hourly tick, delete every expired record in batches."""
    if not await ctx.work.claim_tick(TICK, INTERVAL, ctx.clock()):
        return 0
    purged = 0
    while batch := await ctx.housekeeping.purge_expired_idempotency(ctx.clock(), BATCH):
        purged += batch
    ctx.telemetry.emit("email.housekeeping.idempotency_purged", records=purged)
    before, notifications = ctx.clock() - timedelta(days=ctx.settings.notification_log_days), 0
    while batch := await ctx.housekeeping.purge_finished_notifications(before, BATCH):
        notifications += batch
    ctx.telemetry.emit("email.housekeeping.notifications_purged", records=notifications)
    return purged + notifications
