"""Small helpers shared by e2e and integration tests (append yours; keep each one small)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.adapters.db.tables import jobs
from tenantmail.adapters.postmark.client import PostmarkClient
from tenantmail.bootstrap import Container
from tenantmail.domain.configuration import Administrative, EmailConfiguration, Operational, Signature
from tenantmail.domain.naming import return_path_host, server_name
from tenantmail.services.ports import DnsRecord
from tests.app_fixtures import TEST_API_KEY

T = TypeVar("T")


async def eventually(probe: Callable[[], T | Awaitable[T]], timeout: float = 10.0, interval: float = 0.05) -> T:
    """Poll ``probe`` (sync or async) until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout} s (last value {result!r})")
        await asyncio.sleep(interval)


SETUP_TIMEOUT_SECONDS = 30.0  #: for a test's set-up calls to the sandbox (see setup_postmark)


@contextlib.asynccontextmanager
async def setup_postmark(app: Container) -> AsyncIterator[Any]:
    """The Postmark client for a test's own set-up calls: the app's sandbox with a generous timeout.

    Tests of the send path give the app a short Postmark timeout so that injected faults resolve in
    seconds; the set-up must not inherit it (a signature read asks moto's Route 53, which can take
    over a second on a loaded machine). Without a sandbox (an in-process transport) the app's own.
    """
    if app.sandbox is None:
        yield app.ctx.postmark
        return
    client = PostmarkClient(app.sandbox.base_url, app.sandbox.account_token, timeout=SETUP_TIMEOUT_SECONDS)
    try:
        yield client
    finally:
        await client.aclose()


async def sendable_configuration(
    app: Container, tenant: str, slug: str, *, from_name: str = "Acme Shop", reply_to: str | None = None,
) -> EmailConfiguration:
    """A configuration as provisioning + verification would leave it: OK ∥ UNLOCKED.

    Built by driving the sandbox directly (server, signature, DNS published through ctx.dns so the
    sandbox really verifies DKIM and Return-Path) and saving the row with its encrypted token.
    Stands in for the lifecycle's provisioning until tests can simply signal ``provision``.
    """
    ctx, now = app.ctx, app.ctx.clock()
    config = EmailConfiguration.create(
        tenant_id=tenant, slug=slug, mail_zone_name=app.settings.effective_mail_zone_name,
        signature=Signature("noreply", from_name, reply_to), now=now,
    )
    async with setup_postmark(app) as postmark:
        server = await postmark.account.create_server(f"test-{slug}-{config.e_id[:8]}", delivery_type="Sandbox")
        signature = await postmark.account.create_signature(
            from_email=config.from_email, name=from_name, reply_to=reply_to,
            return_path_domain=return_path_host(config.sending_domain),
        )
        await ctx.dns.upsert_records([
            DnsRecord(signature.dkim_host, "TXT", signature.dkim_value),
            DnsRecord(signature.return_path_domain, "CNAME", signature.return_path_cname_value),
        ])
        verified = await postmark.account.get_signature(signature.signature_id)
    assert verified.dkim_verified and verified.return_path_verified, "the sandbox did not verify the DNS"
    config.server_id, config.signature_id = server.server_id, signature.signature_id
    config.server_token_ciphertext = ctx.cipher.encrypt(server.api_token, aad=config.e_id)
    config.operational, config.administrative, config.verified_at = Operational.OK, Administrative.UNLOCKED, now
    async with ctx.uow(tenant) as uow:
        await uow.configurations.add(config, author="tests", cause="test-setup")
        await uow.commit()
    return config


def send_body(config_eid: str, recipient: str = "customer@example.com", **extra: Any) -> dict[str, Any]:
    """A valid ``POST /job`` body; ``extra`` overrides or adds fields."""
    return {"configurationEId": config_eid, "recipient": recipient, "subject": "Your order",
            "textBody": "Thanks for your order.", **extra}


# --- configuration lifecycle (tests/integration/test_configuration_*.py, tests/e2e/test_lifecycle_*.py) ---


async def sandbox_control(app: Container, method: str, path: str, body: Any = None) -> Any:
    """Call the Postmark sandbox's ``/_sandbox`` control API (faults, settings) of the test's Container."""
    assert app.sandbox is not None, "the Container runs no sandbox"
    async with httpx.AsyncClient(base_url=f"{app.sandbox.base_url}/_sandbox", timeout=10) as client:
        response = await client.request(
            method, path, json=body, headers={"X-Postmark-Account-Token": app.sandbox.account_token},
        )
    assert response.status_code == 200, response.text
    return response.json()


def domain_of(slug: str) -> str:
    """The sending domain of ``slug`` in the tests' partition (dev)."""
    return f"{slug}.dev.ardamails.com"


async def configuration_payload(api: Any, e_id: str) -> dict[str, Any]:
    """``GET /configuration/{eId}``'s payload."""
    payload: dict[str, Any] = (await api.get(f"/configuration/{e_id}")).json()["payload"]
    return payload


async def send_signal(api: Any, e_id: str, signal: str, status: int = 200, **body: Any) -> dict[str, Any]:
    """``POST /configuration/{eId}/{signal}`` (with ``body`` as JSON when given); fails unless ``status``."""
    response = await api.post(f"/configuration/{e_id}/{signal}", json=body or None)
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def create_configuration_via_api(api: Any, slug: str, **signature: Any) -> dict[str, Any]:
    """``POST /configuration`` for ``slug``; returns the envelope (fails the test unless 201)."""
    response = await api.post("/configuration", json={
        "sendingDomainSlug": slug, "signature": {"fromName": "Acme", **signature}})
    assert response.status_code == 201, response.text
    return response.json()


async def postmark_leftovers(app: Container, sending_domain: str) -> dict[str, list[Any]]:
    """What Postmark and the zone hold for a sending domain: servers (by name), signatures, records."""
    name = server_name(sending_domain)
    account = app.ctx.postmark.account
    return {
        "servers": [s for s in await account.list_servers(name) if s.name == name],
        "signatures": [s for s in await account.list_signatures() if s.email_address.endswith("@" + sending_domain)],
        "records": [r for r in await app.ctx.dns.list_records() if r.name.endswith(sending_domain)],
    }


def process_env(app: Container) -> dict[str, str]:
    """Environment for a ``tenantmail`` subprocess (worker, CLI) sharing the test Container's database,
    key registry and running sandbox, configured as production would be (explicit endpoints)."""
    s, sandbox = app.settings, app.sandbox
    assert sandbox is not None
    return {
        **os.environ,
        "TENANTMAIL_DATABASE_URL": s.database_url, "TENANTMAIL_VAR_DIR": str(s.var_dir),
        "TENANTMAIL_API_KEYS": TEST_API_KEY, "TENANTMAIL_POSTMARK_BASE_URL": sandbox.base_url,
        "TENANTMAIL_POSTMARK_ACCOUNT_TOKEN": sandbox.account_token,
        "TENANTMAIL_ROUTE53_ENDPOINT_URL": sandbox.route53_endpoint_url, "TENANTMAIL_MAIL_ZONE_ID": app.zone_id,
        "TENANTMAIL_KEY_REGISTRY_FILE": str(app.registry.path),
        "TENANTMAIL_PUBLIC_BASE_URL": s.effective_public_base_url,
        "TENANTMAIL_WORKER_POLL_SECONDS": "0.05", "TENANTMAIL_VERIFICATION_POLL_SECONDS": "0.2",
        "TENANTMAIL_WORKER_PORT": "0",  # two tests' workers at once (pytest -n) must not race for 8001
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    }


async def job_statuses(engine: AsyncEngine) -> Counter[str]:
    """How many jobs are in each status, across tenants (the reliability and worker tests)."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
        return Counter({status: count for status, count in rows})
