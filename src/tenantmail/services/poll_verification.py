"""Verification polling (SPEC §3): AWAITING_VERIFICATION → OK, or UNVERIFIED after the window.

The workers claim configurations whose ``next_check_at`` is due, with a lease, so one
configuration is polled by one worker at a time, and the schedule lives in the database: polling
survives restarts. Postmark is asked for the signature; ``DKIMVerified ∧ ReturnPathDomainVerified``
makes the configuration OK (SPF is not used). A failed call is simply tried again next time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tenantmail.domain.configuration import EmailConfiguration, Operational
from tenantmail.services.configuration_store import LIFECYCLE, SYSTEM_AUTHOR, load, persist, state_of
from tenantmail.services.context import ServiceContext
from tenantmail.services.external_errors import error_code_of, message_of
from tenantmail.services.configuration_resources import Authenticated, authentication_state

CLAIM_LIMIT = 20


async def poll_due_verifications(ctx: ServiceContext) -> int:
    """Worker step: check every due AWAITING_VERIFICATION configuration once."""
    now = ctx.clock()
    claimed = await ctx.work.claim_configurations([Operational.AWAITING_VERIFICATION.value], now, CLAIM_LIMIT)
    for item in claimed:
        next_check: datetime | None = None
        try:
            next_check = await check_verification(ctx, item.tenant_id, item.e_id)
        finally:
            await ctx.work.release_configuration(item.e_id, next_check_at=next_check or _later(ctx))
    return len(claimed)


def _later(ctx: ServiceContext) -> datetime:
    return ctx.clock() + timedelta(seconds=ctx.settings.verification_poll_seconds)


async def check_verification(ctx: ServiceContext, tenant_id: str, e_id: str) -> datetime | None:
    """One poll. Return when to poll next, or None when the configuration left AWAITING_VERIFICATION."""
    config = await load(ctx, tenant_id, e_id)
    if config.operational is not Operational.AWAITING_VERIFICATION or (
        config.signature_id is None and config.domain_id is None
    ):
        return None
    now = ctx.clock()
    state = await _authentication(ctx, config)
    if state is not None and state.verified:
        return await _conclude(ctx, config, "verified")
    if config.verification_expired(now, timedelta(hours=ctx.settings.verification_timeout_hours)):
        return await _conclude(ctx, config, "timeout")
    return _later(ctx)


async def _authentication(ctx: ServiceContext, config: EmailConfiguration) -> Authenticated | None:
    try:
        return await authentication_state(ctx, config, verify=True)
    except Exception as exc:  # Postmark unreachable or refusing: not a verdict, ask again later
        ctx.telemetry.emit(
            f"{LIFECYCLE}.verification_check_failed", level="warning", configuration_id=config.e_id,
            tenant_id=config.tenant_id, code=error_code_of(exc), error=message_of(exc),
        )
        return None


async def _conclude(ctx: ServiceContext, config: EmailConfiguration, outcome: str) -> None:
    before, now = state_of(config), ctx.clock()
    if outcome == "verified":
        config.mark_verified(now)
    else:
        config.mark_unverified(now)
    await persist(ctx, config, author=SYSTEM_AUTHOR, cause=f"verification:{outcome}", before=before)
    ctx.telemetry.emit(
        f"{LIFECYCLE}.verification", labels={"outcome": outcome},
        configuration_id=config.e_id, tenant_id=config.tenant_id,
    )
