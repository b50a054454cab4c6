"""The configuration lifecycle end to end: the API, the worker's loops, the Postmark sandbox over
HTTP and moto's Route 53 — on both databases."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tenantmail.adapters.route53 import Route53DnsGateway
from tenantmail.bootstrap import Container
from tenantmail.domain.configuration import Operational
from tenantmail.services.configuration_resources import dns_records
from tenantmail.services.configuration_store import load
from tenantmail.services.poll_verification import check_verification
from tenantmail.services.provision_configuration import provision_claimed
from tests.helpers import (
    configuration_payload as _payload,
    create_configuration_via_api,
    domain_of,
    eventually,
    postmark_leftovers,
    sandbox_control,
    send_signal as _signal,
)

pytestmark = pytest.mark.usefixtures("engine")
TENANT = "tenant-a"


@pytest.fixture
def slug() -> str:
    """A slug of its own per test: moto keeps one Route 53 state for the whole test process."""
    return f"acme{uuid.uuid4().hex[:8]}"


async def _provisioned(app: Container, api: httpx.AsyncClient, slug: str) -> str:
    """A configuration taken through provision by one direct pass of the provisioning step."""
    e_id = (await create_configuration_via_api(api, slug))["eId"]
    await _signal(api, e_id, "provision")
    assert await provision_claimed(app.ctx) == 1
    return e_id


async def test_create_provision_verify_unlock_lock_remove_against_the_sandbox_and_route53(
    app_container: Container, api: httpx.AsyncClient, slug: str, worker: None,
) -> None:
    e_id = (await create_configuration_via_api(api, slug))["eId"]
    assert (await _signal(api, e_id, "provision"))["payload"]["operationalStatus"] == "PROVISIONING"

    async def is_ok() -> dict[str, Any] | None:
        payload = await _payload(api, e_id)
        return payload if payload["operationalStatus"] == "OK" else None

    payload = await eventually(is_ok, timeout=20)
    assert payload["verifiedAt"] and payload["verificationStartedAt"] and payload["lastError"] is None
    dns = payload["dns"]
    assert dns["returnPath"]["host"] == f"pm-bounces.{domain_of(slug)}"
    zone = {(r.name, r.type): r.value for r in await app_container.ctx.dns.list_records()}
    assert zone[(dns["dkim"]["host"], "TXT")] == dns["dkim"]["value"]
    assert zone[(dns["returnPath"]["host"], "CNAME")] == dns["returnPath"]["value"]

    account = app_container.ctx.postmark.account
    server = await account.get_server(payload["postmark"]["serverId"])
    assert (server.name, server.delivery_type) == (f"ardamails-dev-{slug}", "Sandbox")
    signature = await account.get_signature(payload["postmark"]["signatureId"])
    assert (signature.email_address, signature.name) == (f"noreply@{domain_of(slug)}", "Acme")
    config = await load(app_container.ctx, TENANT, e_id)
    token = app_container.ctx.cipher.decrypt(config.server_token_ciphertext or "", aad=e_id)
    [webhook] = await app_container.ctx.postmark.server(token).list_webhooks()
    assert (webhook.webhook_id, webhook.username, webhook.url) == (
        payload["postmark"]["webhookId"], e_id, app_container.settings.webhook_url)
    assert webhook.triggers == {"Delivery", "Bounce", "SpamComplaint", "Open", "Click", "SubscriptionChange"}
    [stored] = await app_container.ctx.scans.token_page(None, 10)
    assert stored.webhook_key_version == app_container.ctx.cipher.current_version  # no re-install owed

    assert (await _signal(api, e_id, "unlock"))["payload"]["sendable"] is True
    assert (await _signal(api, e_id, "lock"))["payload"]["sendable"] is False
    removed = (await _signal(api, e_id, "remove"))["payload"]
    assert removed["operationalStatus"] == "REMOVED" and removed["postmark"]["serverId"] is None
    assert await postmark_leftovers(app_container, domain_of(slug)) == {"servers": [], "signatures": [], "records": []}
    assert (await _signal(api, e_id, "unlock", status=409))["error"] == "IllegalSignal"
    assert (await create_configuration_via_api(api, slug))["payload"]["operationalStatus"] == "PENDING"


FAULTS = {
    "createServer": {"kind": "status", "method": "POST", "path": "/servers", "status": 500},
    "createSignature": {"kind": "error_code", "method": "POST", "path": "/senders", "error_code": 400},
    "installWebhook": {"kind": "error_code", "method": "POST", "path": "/webhooks", "error_code": 606},
}


@pytest.mark.parametrize("step", [*FAULTS, "writeRecords"])
async def test_a_failing_step_compensates_lands_in_missing_and_re_provision_succeeds(
    app_container: Container, api: httpx.AsyncClient, slug: str, step: str,
) -> None:
    ctx = app_container.ctx
    if step in FAULTS:
        await sandbox_control(app_container, "POST", "/faults", FAULTS[step])
    else:  # Route 53 refuses: the gateway points at a hosted zone that does not exist
        broken = Route53DnsGateway("ZNOSUCHZONE", endpoint_url=app_container.sandbox.route53_endpoint_url)  # type: ignore[union-attr]
        ctx = dataclasses.replace(ctx, dns=broken)
    e_id = (await create_configuration_via_api(api, slug))["eId"]
    await _signal(api, e_id, "provision")
    assert await provision_claimed(ctx) == 1

    payload = await _payload(api, e_id)
    assert payload["operationalStatus"] == "MISSING"
    assert payload["lastError"]["step"] == step and payload["lastError"]["code"]
    assert payload["postmark"] == {"serverId": None, "signatureId": None, "domainId": None, "webhookId": None}
    assert await postmark_leftovers(app_container, domain_of(slug)) == {"servers": [], "signatures": [], "records": []}

    await _signal(api, e_id, "re-provision")
    assert await provision_claimed(app_container.ctx) == 1
    await check_verification(app_container.ctx, TENANT, e_id)
    assert (await _payload(api, e_id))["operationalStatus"] == "OK"


async def test_a_server_name_taken_by_a_server_we_did_not_create_is_an_orphan(
    app_container: Container, api: httpx.AsyncClient, slug: str,
) -> None:
    stranger = await app_container.ctx.postmark.account.create_server(f"ardamails-dev-{slug}", delivery_type="Sandbox")
    e_id = (await create_configuration_via_api(api, slug))["eId"]
    await _signal(api, e_id, "provision")
    await provision_claimed(app_container.ctx)
    payload = await _payload(api, e_id)
    assert payload["operationalStatus"] == "MISSING"
    assert (payload["lastError"]["step"], payload["lastError"]["code"]) == ("createServer", "orphan_server")
    assert [s.server_id for s in (await postmark_leftovers(app_container, domain_of(slug)))["servers"]] == [stranger.server_id]


async def test_a_server_left_by_a_crash_during_create_server_is_adopted_not_duplicated(
    app_container: Container, api: httpx.AsyncClient, slug: str,
) -> None:
    """The crash window: Postmark created the server, the worker died before recording it."""
    ctx = app_container.ctx
    e_id = (await create_configuration_via_api(api, slug))["eId"]
    await _signal(api, e_id, "provision")
    config = await load(ctx, TENANT, e_id)
    config.begin_step(config.next_provisioning_step)  # type: ignore[arg-type]
    async with ctx.uow(TENANT) as uow:
        await uow.configurations.mark_step_in_flight(config)
        await uow.commit()
    created = await ctx.postmark.account.create_server(f"ardamails-dev-{slug}", delivery_type="Sandbox")

    await provision_claimed(ctx)
    payload = await _payload(api, e_id)
    assert payload["operationalStatus"] == "AWAITING_VERIFICATION"
    assert payload["postmark"]["serverId"] == created.server_id
    assert len((await postmark_leftovers(app_container, domain_of(slug)))["servers"]) == 1


async def test_remove_reports_a_server_postmark_refuses_to_delete_as_an_orphan(
    app_container: Container, api: httpx.AsyncClient, slug: str,
) -> None:
    e_id = await _provisioned(app_container, api, slug)
    server_id = (await _payload(api, e_id))["postmark"]["serverId"]
    await sandbox_control(app_container, "PUT", "/settings", {"server_delete_enabled": False})
    removed = (await _signal(api, e_id, "remove"))["payload"]
    assert removed["operationalStatus"] == "REMOVED"
    assert (removed["lastError"]["step"], removed["lastError"]["code"]) == ("remove", "orphan_server")
    left = await postmark_leftovers(app_container, domain_of(slug))
    assert [s.server_id for s in left["servers"]] == [server_id]
    assert left["signatures"] == [] and left["records"] == []


async def test_remove_that_cannot_reach_postmark_answers_503_changes_nothing_and_can_be_repeated(
    app_container: Container, api: httpx.AsyncClient, slug: str,
) -> None:
    e_id = await _provisioned(app_container, api, slug)
    await sandbox_control(app_container, "POST", "/faults", {"kind": "status", "method": "DELETE", "path": "/senders/*", "status": 503})
    refused = await _signal(api, e_id, "remove", status=503)
    assert "signature" in refused["message"]
    assert (await _payload(api, e_id))["operationalStatus"] == "AWAITING_VERIFICATION"
    assert (await _signal(api, e_id, "remove"))["payload"]["operationalStatus"] == "REMOVED"
    assert await postmark_leftovers(app_container, domain_of(slug)) == {"servers": [], "signatures": [], "records": []}


async def test_verification_times_out_to_unverified_and_re_verify_starts_a_fresh_window(
    app_container: Container, api: httpx.AsyncClient, slug: str,
) -> None:
    ctx = app_container.ctx
    e_id = await _provisioned(app_container, api, slug)
    config = await load(ctx, TENANT, e_id)
    await ctx.dns.delete_records(dns_records(config))  # Postmark can no longer verify
    started = config.verification_started_at
    assert started is not None
    window = timedelta(hours=app_container.settings.verification_timeout_hours)

    almost = dataclasses.replace(ctx, clock=lambda: started + window - timedelta(seconds=1))
    assert await check_verification(almost, TENANT, e_id) is not None
    assert (await _payload(api, e_id))["operationalStatus"] == "AWAITING_VERIFICATION"
    late = dataclasses.replace(ctx, clock=lambda: started + window)
    assert await check_verification(late, TENANT, e_id) is None
    assert (await _payload(api, e_id))["operationalStatus"] == "UNVERIFIED"

    again = (await _signal(api, e_id, "re-verify"))["payload"]
    assert again["operationalStatus"] == "AWAITING_VERIFICATION" and again["verificationStartedAt"] > started.isoformat()
    await ctx.dns.upsert_records(dns_records(config))
    await check_verification(ctx, TENANT, e_id)
    assert (await _payload(api, e_id))["operationalStatus"] == "OK"


async def test_re_verify_from_failure_runs_a_health_check_before_degraded(
    app_container: Container, api: httpx.AsyncClient, slug: str,
) -> None:
    ctx = app_container.ctx
    e_id = await _provisioned(app_container, api, slug)
    await check_verification(ctx, TENANT, e_id)
    config = await load(ctx, TENANT, e_id)
    config.operational = Operational.FAILURE
    async with ctx.uow(TENANT) as uow:
        await uow.configurations.save(config, author="tests", cause="test-setup")
        await uow.commit()

    await ctx.dns.delete_records(dns_records(config))
    refused = await _signal(api, e_id, "re-verify", status=409)
    assert refused["error"] == "HealthCheckFailed"
    await ctx.dns.upsert_records(dns_records(config))
    assert (await _signal(api, e_id, "re-verify"))["payload"]["operationalStatus"] == "DEGRADED"
