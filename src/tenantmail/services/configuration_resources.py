"""The Postmark resources and DNS records one configuration holds: find them, adopt them, delete them.

**Why adoption is safe.** Between Postmark's answer to a creation call and our commit of its id,
a crash would leave a server (or signature) nobody records. So before each creation call the
provisioning job persists a marker (``step_in_flight``). When a later run sees the marker it looks
the resource up by its deterministic identity — the server name derived from the sending domain,
the signature's From address — and adopts it instead of creating a second one. Without the marker,
a same-named server is *not* ours (e.g. one Postmark refused to delete for a removed
configuration): creating then fails with "name exists" and the configuration lands in MISSING as an
orphan for the operator. A marker is cleared as soon as Postmark answers (with the id, or with a
refusal that proves nothing was created), so it only survives genuinely unknown outcomes.

**A Domain is adopted by name, marker or not.** Its name is the configuration's sending domain, a
subdomain of this partition's own mail zone, unique among live configurations: only this
partition can publish its records, so a Postmark Domain of that name can only serve this
configuration. Postmark answers 512 when one exists (left by a crash, by a removal Postmark
refused, or created with a sender signature at that domain — which is how a signature
configuration's migration finds it); it is then looked up and adopted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tenantmail.domain import naming
from tenantmail.domain.configuration import Authentication, DnsRecords, EmailConfiguration, ProvisioningStep
from tenantmail.services.configuration_store import LIFECYCLE
from tenantmail.services.context import ServiceContext
from tenantmail.services.external_errors import (
    INVALID_SERVER_TOKEN,
    error_code_of,
    has_error_code,
    is_gone,
    message_of,
)
from tenantmail.services.ports import DnsRecord, PostmarkDomain, PostmarkServer, PostmarkSignature

#: Postmark refuses to delete the server: 604 no delete access, 605 unable to delete.
UNDELETABLE_SERVER_CODES = (604, 605)


def server_name(config: EmailConfiguration) -> str:
    return naming.server_name(config.sending_domain)


def dns_records(config: EmailConfiguration) -> list[DnsRecord]:
    """The DKIM TXT and Return-Path CNAME the configuration publishes (none before createSignature)."""
    if config.dns is None:
        return []
    dns = config.dns
    return [
        DnsRecord(name=dns.dkim_host, type="TXT", value=dns.dkim_value),
        DnsRecord(name=dns.return_path_host, type="CNAME", value=dns.return_path_value),
    ]


async def find_own_server(ctx: ServiceContext, config: EmailConfiguration) -> PostmarkServer | None:
    """The server a crashed ``createServer`` may have made (exact name; list matches partially)."""
    name = server_name(config)
    for server in await ctx.postmark.account.list_servers(name):
        if server.name == name:
            return server if server.api_token else await ctx.postmark.account.get_server(server.server_id)
    return None


async def find_own_signature(ctx: ServiceContext, config: EmailConfiguration) -> PostmarkSignature | None:
    """The signature a crashed ``createSignature`` may have made, read in full (DKIM values)."""
    wanted = config.from_email.lower()
    for brief in await ctx.postmark.account.list_signatures():
        if brief.email_address.lower() == wanted:
            return await ctx.postmark.account.get_signature(brief.signature_id)
    return None


async def find_own_domain(ctx: ServiceContext, config: EmailConfiguration) -> PostmarkDomain | None:
    """The Postmark Domain named as the sending domain, read in full (DKIM values), if any."""
    wanted = config.sending_domain.lower()
    for brief in await ctx.postmark.account.list_domains():
        if brief.name.lower() == wanted:
            return await ctx.postmark.account.get_domain(brief.domain_id)
    return None


async def adopt_domain(ctx: ServiceContext, config: EmailConfiguration, domain: PostmarkDomain) -> None:
    """Record the domain and the records it asks for. Its Return-Path domain is set to ours
    first when it has another (an adopted domain may have been created without one)."""
    wanted = naming.return_path_host(config.sending_domain)
    if domain.return_path_domain.lower() != wanted:
        domain = await ctx.postmark.account.edit_domain(domain.domain_id, return_path_domain=wanted)
    config.record_domain(domain.domain_id, domain_dns(config, domain), ctx.clock())


def domain_dns(config: EmailConfiguration, domain: PostmarkDomain) -> DnsRecords:
    """What a domain asks to publish: the key it signs with (else the pending one) and the
    Return-Path CNAME."""
    return DnsRecords(
        dkim_host=domain.dkim_host or domain.dkim_pending_host,
        dkim_value=domain.dkim_text_value or domain.dkim_pending_text_value,
        return_path_host=domain.return_path_domain or naming.return_path_host(config.sending_domain),
        return_path_value=domain.return_path_cname_value,
    )


def signature_dns(config: EmailConfiguration, signature: PostmarkSignature) -> DnsRecords:
    return DnsRecords(
        dkim_host=signature.dkim_host, dkim_value=signature.dkim_value,
        return_path_host=signature.return_path_domain or naming.return_path_host(config.sending_domain),
        return_path_value=signature.return_path_cname_value,
    )


@dataclass(frozen=True)
class Authenticated:
    """What Postmark says now about a configuration's signature or domain."""

    dkim_verified: bool
    return_path_verified: bool
    dns: DnsRecords  #: the records it asks to publish, with Postmark's current values

    @property
    def verified(self) -> bool:
        return self.dkim_verified and self.return_path_verified


async def authentication_state(
    ctx: ServiceContext, config: EmailConfiguration, *, verify: bool = False
) -> Authenticated:
    """Read the signature or domain the configuration authenticates with (raises on any Postmark
    error, and AssertionError when it records none). ``verify``: for a domain, ask Postmark to
    re-check what is not verified yet (``verifyDkim`` / ``verifyReturnPath``) — Postmark checks a
    domain's records when asked, a signature's in the background."""
    account = ctx.postmark.account
    if config.authentication is Authentication.DOMAIN:
        assert config.domain_id is not None, "the domain is recorded"
        domain = await account.get_domain(config.domain_id)
        if verify and not domain.dkim_verified:
            domain = await account.verify_domain_dkim(config.domain_id)
        if verify and not domain.return_path_verified:
            domain = await account.verify_domain_return_path(config.domain_id)
        return Authenticated(domain.dkim_verified, domain.return_path_verified, domain_dns(config, domain))
    assert config.signature_id is not None, "the signature is recorded"
    signature = await account.get_signature(config.signature_id)
    return Authenticated(signature.dkim_verified, signature.return_path_verified,
                         signature_dns(config, signature))


async def adopt_in_flight(ctx: ServiceContext, config: EmailConfiguration) -> None:
    """Record on ``config`` what an unanswered creation call left behind, if anything."""
    if config.step_in_flight is ProvisioningStep.CREATE_SERVER and config.server_id is None:
        server = await find_own_server(ctx, config)
        if server is not None:
            adopt_server(ctx, config, server)
    elif config.step_in_flight is ProvisioningStep.CREATE_SIGNATURE and config.signature_id is None:
        signature = await find_own_signature(ctx, config)
        if signature is not None:
            adopt_signature(ctx, config, signature)
    elif config.step_in_flight is ProvisioningStep.CREATE_DOMAIN and config.domain_id is None:
        domain = await find_own_domain(ctx, config)
        if domain is not None:
            await adopt_domain(ctx, config, domain)
    config.step_in_flight = None


def adopt_server(ctx: ServiceContext, config: EmailConfiguration, server: PostmarkServer) -> None:
    """Record the server; its token is encrypted at once (AAD = eId) and never kept in clear."""
    ciphertext = ctx.cipher.encrypt(server.api_token, aad=config.e_id)
    config.record_server(server.server_id, ciphertext, ctx.clock())


def adopt_signature(ctx: ServiceContext, config: EmailConfiguration, signature: PostmarkSignature) -> None:
    config.record_signature(signature.signature_id, signature_dns(config, signature), ctx.clock())


# --- teardown ---------------------------------------------------------------------------------


@dataclass
class TeardownReport:
    """What a teardown could not do. Everything it did is already forgotten on the configuration."""

    orphan_server_id: int | None = None  #: a server Postmark refused to delete
    failures: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failures


async def teardown(ctx: ServiceContext, config: EmailConfiguration) -> TeardownReport:
    """Delete webhook, signature, domain, server and DNS records; each one gone (404 too) is
    forgotten.

    Used by compensation, ``re-provision`` and ``remove``. It never raises for a Postmark or DNS
    failure: it goes on with the other resources and reports, so calling it again finishes the job.
    """
    report = TeardownReport()
    try:
        await adopt_in_flight(ctx, config)
    except Exception as exc:  # the lookup failed: the marker stays for the next attempt
        report.failures.append(f"lookup: {_describe(exc)}")
    for delete in (_delete_webhook, _delete_signature, _delete_domain, _delete_server, _delete_records):
        await delete(ctx, config, report)
    return report


async def release_signature(ctx: ServiceContext, config: EmailConfiguration) -> TeardownReport:
    """Migration to a Domain: delete the sender signature and its DNS records; server and
    webhook stay. (Postmark may drop the signature's domain with it; the domain step then
    creates one, else it adopts the one that stays.)"""
    report = TeardownReport()
    for delete in (_delete_signature, _delete_records):
        await delete(ctx, config, report)
    return report


async def _attempt(call: Callable[[], Awaitable[object]]) -> BaseException | None:
    """Run a deletion; None when it is done or the resource was already gone."""
    try:
        await call()
    except Exception as exc:
        return None if is_gone(exc) else exc
    return None


def _describe(exc: BaseException) -> str:
    return f"{error_code_of(exc)} {message_of(exc)}"


async def _delete_webhook(ctx: ServiceContext, config: EmailConfiguration, report: TeardownReport) -> None:
    webhook_id, ciphertext = config.webhook_id, config.server_token_ciphertext
    if webhook_id is None or ciphertext is None:  # without a server there is no webhook
        config.forget_webhook()
        return
    server = ctx.postmark.server(ctx.cipher.decrypt(ciphertext, aad=config.e_id))
    exc = await _attempt(lambda: server.delete_webhook(webhook_id))
    if exc is None or has_error_code(exc, INVALID_SERVER_TOKEN):  # token dead: server and hooks gone
        config.forget_webhook()
    else:
        report.failures.append(f"webhook {webhook_id}: {_describe(exc)}")


async def _delete_account_resource(
    what: str, resource_id: int | None, delete: Callable[[int], Awaitable[object]],
    forget: Callable[[], None], report: TeardownReport,
) -> None:
    """Delete a sender signature or Postmark Domain by id; forget it once gone (404 too)."""
    if resource_id is None:
        return
    exc = await _attempt(lambda: delete(resource_id))
    if exc is None:
        forget()
    else:
        report.failures.append(f"{what} {resource_id}: {_describe(exc)}")


async def _delete_signature(ctx: ServiceContext, config: EmailConfiguration, report: TeardownReport) -> None:
    await _delete_account_resource("signature", config.signature_id, ctx.postmark.account.delete_signature,
                                   config.forget_signature, report)


async def _delete_domain(ctx: ServiceContext, config: EmailConfiguration, report: TeardownReport) -> None:
    await _delete_account_resource("domain", config.domain_id, ctx.postmark.account.delete_domain,
                                   config.forget_domain, report)


async def _delete_server(ctx: ServiceContext, config: EmailConfiguration, report: TeardownReport) -> None:
    server_id = config.server_id
    if server_id is None:
        return
    exc = await _attempt(lambda: ctx.postmark.account.delete_server(server_id))
    if exc is not None and has_error_code(exc, *UNDELETABLE_SERVER_CODES):
        report.orphan_server_id = server_id
        report_orphan_server(ctx, config, server_id, _describe(exc))
    elif exc is not None:
        report.failures.append(f"server {server_id}: {_describe(exc)}")
        return
    config.forget_server()


async def _delete_records(ctx: ServiceContext, config: EmailConfiguration, report: TeardownReport) -> None:
    records = dns_records(config)
    if not records:
        return
    exc = await _attempt(lambda: ctx.dns.delete_records(records))
    if exc is None:
        config.forget_dns()
    else:
        report.failures.append(f"dns: {_describe(exc)}")


def report_orphan_server(ctx: ServiceContext, config: EmailConfiguration, server_id: int, why: str) -> None:
    """A Postmark server we cannot delete (or did not create) stays behind: tell the operator."""
    ctx.telemetry.emit(
        f"{LIFECYCLE}.orphan_server", level="warning", sentry=True,
        fingerprint=[f"{LIFECYCLE}.orphan_server", config.e_id],
        configuration_id=config.e_id, tenant_id=config.tenant_id, server_id=server_id,
        server_name=server_name(config), reason=why,
    )
