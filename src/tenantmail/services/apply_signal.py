"""Operator signals (``POST /configuration/{eId}/{signal}``): one state machine, one use case.

The domain decides whether a signal is allowed (:meth:`EmailConfiguration.check`, 409 with the
current states otherwise). Some signals do outside work first, synchronously, before the
transition is written:

* ``re-provision`` deletes the partial Postmark resources and DNS records of the failed attempt
  (404 = already gone), then PROVISIONING; the worker re-runs the steps. With
  ``authentication: domain`` it migrates a signature configuration to a Postmark Domain, also
  from a settled state (OK, DEGRADED, …): the sender signature and its DNS records are deleted,
  server and webhook kept, and the steps create (or adopt) the domain, publish its records and
  verify again; it sends again once the domain is verified.
* ``re-verify`` from FAILURE runs a health check (the token decrypts and Postmark accepts it, the
  signature is verified) and only then moves to DEGRADED.
* ``remove`` deletes webhook, signature, server and DNS records, then REMOVED (the slug is free).
  A server Postmark refuses to delete is disowned as an orphan and reported.
* ``force-lock`` cancels the configuration's QUEUED jobs in the transition's transaction.

If the outside work fails, nothing is written and 503 says what is left; the signal can simply be
sent again (deletions are idempotent). The write is guarded by the version read at the start, so
a change made meanwhile by someone else answers 409 instead of being overwritten.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tenantmail.domain.configuration import (
    Authentication,
    ConfigurationVersion,
    EmailConfiguration,
    HealthCheckFailed,
    LastError,
    Operational,
    Signal,
)
from tenantmail.domain.errors import InvalidInput, UpstreamUnavailable
from tenantmail.services.configuration_resources import (
    TeardownReport,
    authentication_state,
    release_signature,
    teardown,
)
from tenantmail.domain.notification import Notification, NotificationType
from tenantmail.services.configuration_store import emit_transition, load, save_version, state_of, version_of
from tenantmail.services.context import ServiceContext
from tenantmail.services.external_errors import error_code_of, is_retryable, message_of

ORPHAN_SERVER = "orphan_server"
MIGRATE_TO_DOMAIN = "re-provision:domain"  #: the history cause of a migration to a Domain


async def apply_signal(
    ctx: ServiceContext, tenant_id: str, e_id: str, signal: Signal, *, author: str,
    authentication: Authentication | None = None,
) -> ConfigurationVersion:
    """Apply ``signal`` to the tenant's configuration ``e_id`` and return the new version.
    ``authentication`` (re-provision only): the authentication to provision with; another than the
    configuration's migrates it (signature → domain)."""
    config = await load(ctx, tenant_id, e_id)
    if authentication is not None and signal is not Signal.RE_PROVISION:
        raise InvalidInput("authentication can only be given with re-provision")
    migrating = authentication is not None and authentication is not config.authentication
    config.check(signal, migrating=migrating)
    before = state_of(config)
    if migrating and config.operational is not Operational.MISSING:
        _require_complete(await release_signature(ctx, config), "re-provision")
    else:
        await PREPARE.get(signal, _nothing)(ctx, config)
    now = ctx.clock()
    config.apply(signal, now, migrating=migrating)
    cause = MIGRATE_TO_DOMAIN if migrating else signal.value
    async with ctx.uow(tenant_id) as uow:
        r_id = await save_version(uow, config, author=author, cause=cause, before=before, now=now)
        cancelled = await uow.jobs.cancel_queued(e_id, now) if signal is Signal.FORCE_LOCK else []
        await uow.notifications.record(*(Notification.of(NotificationType.JOB_CANCELLED, job, now) for job in cancelled))
        await uow.commit()
    emit_transition(ctx, config, before=before, cause=cause)
    if cancelled:
        ctx.telemetry.emit("email.configuration.lifecycle.jobs_cancelled", configuration_id=e_id,
                           tenant_id=tenant_id, count=len(cancelled))
    return version_of(config, r_id, author=author, cause=cause)


async def _nothing(ctx: ServiceContext, config: EmailConfiguration) -> None:
    return None


async def _clean_up(ctx: ServiceContext, config: EmailConfiguration) -> None:
    """``re-provision``: remove what the failed attempt left, so the steps start from scratch."""
    _require_complete(await teardown(ctx, config), "re-provision")


async def _remove(ctx: ServiceContext, config: EmailConfiguration) -> None:
    report = await teardown(ctx, config)
    _require_complete(report, "remove")
    if report.orphan_server_id is not None:
        config.last_error = LastError(
            "remove", ORPHAN_SERVER,
            f"Postmark refused to delete server {report.orphan_server_id}; it is left as an orphan "
            "for the operator (drift reports it)",
        )


def _require_complete(report: TeardownReport, signal: str) -> None:
    if not report.complete:
        raise UpstreamUnavailable(
            f"{signal} could not delete everything, nothing was changed; send it again: "
            + "; ".join(report.failures)
        )


async def _health_check(ctx: ServiceContext, config: EmailConfiguration) -> None:
    """``re-verify`` from FAILURE: prove the setup works before sends resume (as DEGRADED)."""
    if config.operational is not Operational.FAILURE:
        return
    if config.server_token_ciphertext is None or (config.signature_id is None and config.domain_id is None):
        raise HealthCheckFailed(f"the configuration holds no server token or {config.authentication.value}; "
                                "re-provision it")
    try:
        token = ctx.cipher.decrypt(config.server_token_ciphertext, aad=config.e_id)
        await ctx.postmark.server(token).list_webhooks()
        state = await authentication_state(ctx, config)
    except Exception as exc:
        if is_retryable(exc):
            raise UpstreamUnavailable(f"the health check could not reach Postmark: {message_of(exc)}") from exc
        raise HealthCheckFailed(f"{error_code_of(exc)} {message_of(exc)}") from exc
    if not state.verified:
        what = "sender signature" if config.authentication is Authentication.SIGNATURE else "domain"
        raise HealthCheckFailed(f"the {what}'s DKIM or Return-Path is not verified")


PREPARE: dict[Signal, Callable[[ServiceContext, EmailConfiguration], Awaitable[None]]] = {
    Signal.RE_PROVISION: _clean_up,
    Signal.RE_VERIFY: _health_check,
    Signal.REMOVE: _remove,
}
