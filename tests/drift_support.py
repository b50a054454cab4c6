"""Configurations set up for real for drift and key-rotation tests, without the provisioning service.

Each one has a real server, sender signature and webhook in the sandbox (over HTTP), its DKIM and
Return-Path records in moto's Route 53, and a row with its server token encrypted under the
registry's current version — what a finished provisioning leaves behind, in state OK.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tenantmail.bootstrap import Container
from tenantmail.domain.configuration import DnsRecords, EmailConfiguration, Signal, Signature
from tenantmail.domain.naming import return_path_host, server_name
from tenantmail.services.ports import DnsRecord

TRIGGERS = frozenset({"Delivery", "Bounce", "SpamComplaint"})


async def provisioned(app: Container, slug: str, tenant: str = "tenant-a", *, unlocked: bool = False) -> EmailConfiguration:
    ctx = app.ctx
    now = ctx.clock()
    config = EmailConfiguration.create(
        tenant_id=tenant, slug=slug, mail_zone_name=app.settings.effective_mail_zone_name,
        signature=Signature(from_name=slug.title()), now=now,
    )
    server = await ctx.postmark.account.create_server(server_name(config.sending_domain), delivery_type="Sandbox")
    signature = await ctx.postmark.account.create_signature(
        from_email=config.from_email, name=slug.title(), reply_to=None,
        return_path_domain=return_path_host(config.sending_domain),
    )
    webhook = await ctx.postmark.server(server.api_token).create_webhook(
        url=app.settings.webhook_url, username=config.e_id,
        password=ctx.webhook_secrets.current(config.e_id), triggers=TRIGGERS,
    )
    config.dns = DnsRecords(signature.dkim_host, signature.dkim_value,
                            signature.return_path_domain, signature.return_path_cname_value)
    await ctx.dns.upsert_records(expected_records(config))
    verified = await ctx.postmark.account.get_signature(signature.signature_id)  # as verification polling does
    assert verified.dkim_verified and verified.return_path_verified
    config.server_id, config.signature_id, config.webhook_id = server.server_id, signature.signature_id, webhook.webhook_id
    config.server_token_ciphertext = ctx.cipher.encrypt(server.api_token, aad=config.e_id)
    config.start_verification(now)
    config.mark_verified(now)
    if unlocked:
        config.apply(Signal.UNLOCK, now)
    async with ctx.uow(tenant) as uow:
        await uow.configurations.add(config, author="tests", cause="seeded")
        await uow.commit()
    return config


def expected_records(config: EmailConfiguration) -> list[DnsRecord]:
    assert config.dns is not None
    return [DnsRecord(config.dns.dkim_host, "TXT", config.dns.dkim_value),
            DnsRecord(config.dns.return_path_host, "CNAME", config.dns.return_path_value)]


async def reload(app: Container, config: EmailConfiguration) -> EmailConfiguration:
    async with app.ctx.uow(config.tenant_id) as uow:
        return await uow.configurations.get(config.e_id)


def server_token(app: Container, config: EmailConfiguration) -> str:
    assert config.server_token_ciphertext is not None
    return app.ctx.cipher.decrypt(config.server_token_ciphertext, aad=config.e_id)


async def installed_webhook(app: Container, config: EmailConfiguration) -> dict[str, Any]:
    """The webhook as Postmark serves it (with its HttpAuth), read over the real API."""
    assert app.sandbox is not None
    async with httpx.AsyncClient(base_url=app.sandbox.base_url, headers={
        "Accept": "application/json", "X-Postmark-Server-Token": server_token(app, config),
    }) as client:
        answer = await client.get(f"/webhooks/{config.webhook_id}")
    answer.raise_for_status()
    return dict(answer.json())


async def sandbox_control(app: Container, method: str, path: str, **kwargs: Any) -> Any:
    """The sandbox's control API (``/_sandbox``), e.g. deleting a server behind our back."""
    assert app.sandbox is not None
    async with httpx.AsyncClient(base_url=f"{app.sandbox.base_url}/_sandbox",
                                 headers={"X-Postmark-Account-Token": app.sandbox.account_token}) as client:
        answer = await client.request(method, path, **kwargs)
    answer.raise_for_status()
    return answer.json()
