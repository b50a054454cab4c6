"""The provisioning job: ``createServer → createSignature → installWebhook → writeRecords`` (SPEC §3);
for a configuration authenticated by a Postmark Domain (SPEC §18) ``createDomain`` takes the place
of ``createSignature``.

Run by the workers on configurations in PROVISIONING (claimed with a lease, so one worker at a
time). Each step records its result on the row in its own commit and is skipped when already
recorded, so a worker killed at any point is resumed by the next one without duplicates (see
``configuration_resources`` for how an unanswered creation call is adopted). All Postmark calls
come before the DNS write. A failing step compensates — everything created is deleted — and the
configuration lands in MISSING with the step and error in ``lastError``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from tenantmail.domain import naming
from tenantmail.domain.configuration import EmailConfiguration, LastError, Operational, ProvisioningStep
from tenantmail.services.configuration_resources import (
    adopt_domain,
    adopt_server,
    adopt_signature,
    dns_records,
    find_own_domain,
    find_own_server,
    find_own_signature,
    server_name,
    teardown,
)
from tenantmail.services.configuration_store import LIFECYCLE, SYSTEM_AUTHOR, load, persist, state_of
from tenantmail.services.context import ServiceContext
from tenantmail.services.external_errors import error_code_of, has_error_code, message_of, was_answered

CLAIM_LIMIT = 5
SERVER_NAME_EXISTS = 603
DOMAIN_EXISTS = 512
ORPHAN_SERVER = "orphan_server"
#: Every event the delivery projection and suppression use; opens and clicks are kept as events.
WEBHOOK_TRIGGERS = frozenset({"Delivery", "Bounce", "SpamComplaint", "Open", "Click", "SubscriptionChange"})


async def provision_claimed(ctx: ServiceContext) -> int:
    """Worker step: claim due PROVISIONING configurations and run their remaining steps."""
    claimed = await ctx.work.claim_configurations([Operational.PROVISIONING.value], ctx.clock(), CLAIM_LIMIT)
    for item in claimed:
        next_check: datetime | None = None
        try:
            next_check = await provision(ctx, item.tenant_id, item.e_id)
        except Exception:  # e.g. the database went away: resume later from the recorded steps
            ctx.telemetry.emit(
                f"{LIFECYCLE}.provisioning_interrupted", level="error", sentry=True,
                configuration_id=item.e_id, tenant_id=item.tenant_id,
            )
            next_check = ctx.clock() + timedelta(seconds=ctx.settings.verification_poll_seconds)
        finally:
            await ctx.work.release_configuration(item.e_id, next_check_at=next_check)
    return len(claimed)


async def provision(ctx: ServiceContext, tenant_id: str, e_id: str) -> datetime | None:
    """Run the steps not yet recorded; return when the row is next due (verification: at once)."""
    config = await load(ctx, tenant_id, e_id)
    while (step := config.next_provisioning_step) is not None:
        before = state_of(config)
        try:
            await STEPS[step](ctx, config)
        except Exception as exc:  # any failure of the outside call fails the step
            await _fail(ctx, config, step, exc)
            return None
        await persist(ctx, config, author=SYSTEM_AUTHOR, cause=f"provisioning:{step}", before=before)
        _emit_step(ctx, config, step, "ok")
    return ctx.clock() if config.operational is Operational.AWAITING_VERIFICATION else None


async def _begin(ctx: ServiceContext, config: EmailConfiguration, step: ProvisioningStep) -> None:
    """Commit the in-flight marker before the creation call leaves."""
    config.begin_step(step)
    async with ctx.uow(config.tenant_id) as uow:
        await uow.configurations.mark_step_in_flight(config)
        await uow.commit()


async def _create_server(ctx: ServiceContext, config: EmailConfiguration) -> None:
    server = await find_own_server(ctx, config) if config.step_in_flight is ProvisioningStep.CREATE_SERVER else None
    if server is None:
        await _begin(ctx, config, ProvisioningStep.CREATE_SERVER)
        delivery_type = "Live" if ctx.settings.is_live else "Sandbox"
        server = await ctx.postmark.account.create_server(server_name(config), delivery_type=delivery_type)
    adopt_server(ctx, config, server)


async def _create_signature(ctx: ServiceContext, config: EmailConfiguration) -> None:
    in_flight = config.step_in_flight is ProvisioningStep.CREATE_SIGNATURE
    signature = await find_own_signature(ctx, config) if in_flight else None
    if signature is None:
        await _begin(ctx, config, ProvisioningStep.CREATE_SIGNATURE)
        signature = await ctx.postmark.account.create_signature(
            from_email=config.from_email, name=config.signature.from_name,
            reply_to=config.signature.reply_to_email,
            return_path_domain=naming.return_path_host(config.sending_domain),
        )
    adopt_signature(ctx, config, signature)


async def _create_domain(ctx: ServiceContext, config: EmailConfiguration) -> None:
    """A Postmark Domain named as the sending domain; one that exists already is adopted (see
    ``configuration_resources``: only this partition can verify that name)."""
    in_flight = config.step_in_flight is ProvisioningStep.CREATE_DOMAIN
    domain = await find_own_domain(ctx, config) if in_flight else None
    if domain is None:
        await _begin(ctx, config, ProvisioningStep.CREATE_DOMAIN)
        try:
            domain = await ctx.postmark.account.create_domain(
                config.sending_domain, return_path_domain=naming.return_path_host(config.sending_domain),
            )
        except Exception as exc:
            if not has_error_code(exc, DOMAIN_EXISTS) or (domain := await find_own_domain(ctx, config)) is None:
                raise
    await adopt_domain(ctx, config, domain)


async def _install_webhook(ctx: ServiceContext, config: EmailConfiguration) -> None:
    """With the server token; a webhook already carrying our eId as username is ours (re-run)."""
    assert config.server_token_ciphertext is not None, "createServer recorded the token"
    server = ctx.postmark.server(ctx.cipher.decrypt(config.server_token_ciphertext, aad=config.e_id))
    url = ctx.settings.webhook_url
    ours = [w for w in await server.list_webhooks("outbound") if w.username == config.e_id and w.url == url]
    if ours:
        webhook = ours[0]
    else:
        key_version = ctx.cipher.current_version  # the registry version the password derives from
        webhook = await server.create_webhook(
            url=url, username=config.e_id, password=ctx.webhook_secrets.current(config.e_id),
            triggers=WEBHOOK_TRIGGERS,
        )
        # so the key sweep knows this password is already current and need not re-install it
        await ctx.scans.mark_webhook_key_version(config.e_id, key_version)
    config.record_webhook(webhook.webhook_id, ctx.clock())


async def _write_records(ctx: ServiceContext, config: EmailConfiguration) -> None:
    """Route 53 UPSERTs (idempotent), then verification starts."""
    await ctx.dns.upsert_records(dns_records(config))
    config.start_verification(ctx.clock())


STEPS: dict[ProvisioningStep, Callable[[ServiceContext, EmailConfiguration], Awaitable[None]]] = {
    ProvisioningStep.CREATE_SERVER: _create_server,
    ProvisioningStep.CREATE_SIGNATURE: _create_signature,
    ProvisioningStep.CREATE_DOMAIN: _create_domain,
    ProvisioningStep.INSTALL_WEBHOOK: _install_webhook,
    ProvisioningStep.WRITE_RECORDS: _write_records,
}


async def _fail(ctx: ServiceContext, config: EmailConfiguration, step: ProvisioningStep, exc: BaseException) -> None:
    """Compensate (delete what exists), then MISSING with the failing step and error."""
    if was_answered(exc):  # Postmark refused the call: it created nothing, the marker is moot
        config.step_in_flight = None
    before = state_of(config)
    report = await teardown(ctx, config)
    config.mark_missing(_last_error(config, step, exc), ctx.clock())
    await persist(ctx, config, author=SYSTEM_AUTHOR, cause=f"provisioning:{step}:failed", before=before)
    _emit_step(ctx, config, step, "failed", compensated=report.complete, leftovers=report.failures)


def _last_error(config: EmailConfiguration, step: ProvisioningStep, exc: BaseException) -> LastError:
    if step is ProvisioningStep.CREATE_SERVER and has_error_code(exc, SERVER_NAME_EXISTS):
        message = (f"a Postmark server named {server_name(config)} exists that this configuration did "
                   "not create (an orphan; drift reports it): delete or rename it, then re-provision")
        return LastError(step.value, ORPHAN_SERVER, message)
    return LastError(step.value, error_code_of(exc), message_of(exc))


def _emit_step(ctx: ServiceContext, config: EmailConfiguration, step: ProvisioningStep, outcome: str, **fields: object) -> None:
    ctx.telemetry.emit(
        f"{LIFECYCLE}.provisioning_step", labels={"step": step.value, "outcome": outcome},
        level="info" if outcome == "ok" else "warning",
        configuration_id=config.e_id, tenant_id=config.tenant_id, **fields,
    )
