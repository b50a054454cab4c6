"""Configurations authenticated by a Postmark Domain (SPEC §18), end to end: the API, the
provisioning and verification steps, the Postmark sandbox over HTTP and moto's Route 53 — on both
databases. Several From local parts per configuration, the allow-list and its audit, and the
migration of a signature configuration to a domain."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tenantmail.bootstrap import Container
from tenantmail.services.configuration_resources import adopt_server
from tenantmail.services.configuration_store import load
from tenantmail.services.dispatch_jobs import dispatch_jobs
from tenantmail.services.poll_verification import check_verification
from tenantmail.services.provision_configuration import provision_claimed
from tests.helpers import (
    configuration_payload as _payload,
    domain_of,
    eventually,
    postmark_leftovers,
    sandbox_control,
    send_body,
    send_signal as _signal,
)

pytestmark = pytest.mark.usefixtures("engine")
TENANT = "tenant-a"


@pytest.fixture
def slug() -> str:
    return f"dom{uuid.uuid4().hex[:8]}"


async def _create(api: httpx.AsyncClient, slug: str, **fields: Any) -> str:
    response = await api.post("/configuration", json={
        "sendingDomainSlug": slug, "signature": {"fromName": "Acme", "fromLocalPart": "billing"}, **fields})
    assert response.status_code == 201, response.text
    return str(response.json()["eId"])


async def _ok(app: Container, api: httpx.AsyncClient, e_id: str) -> dict[str, Any]:
    """Run the provisioning step and one verification poll; the configuration is then OK."""
    assert await provision_claimed(app.ctx) == 1
    await check_verification(app.ctx, TENANT, e_id)
    payload = await _payload(api, e_id)
    assert payload["operationalStatus"] == "OK", payload
    return payload


async def _send(api: httpx.AsyncClient, e_id: str, key: str, **fields: Any) -> httpx.Response:
    return await api.post("/job", json=send_body(e_id, **fields), headers={"Idempotency-Key": key})


async def _from_addresses(app: Container, server_id: int) -> list[str]:
    messages = await sandbox_control(app, "GET", f"/servers/{server_id}/messages")
    return sorted(m["From"] for m in messages)


async def _history(api: httpx.AsyncClient, e_id: str) -> list[dict[str, Any]]:
    return (await api.get(f"/configuration/{e_id}/history", params={"limit": 100})).json()["items"]


async def test_a_domain_configuration_sends_from_two_allowed_local_parts_and_refuses_a_third(
    app_container: Container, api: httpx.AsyncClient, slug: str,
) -> None:
    e_id = await _create(api, slug, authentication="domain", allowedFromLocalParts=["billing", "orders"])
    created = await _payload(api, e_id)
    assert (created["authentication"], created["allowedFromLocalParts"]) == ("domain", ["billing", "orders"])
    await _signal(api, e_id, "provision")
    payload = await _ok(app_container, api, e_id)
    postmark = payload["postmark"]
    assert postmark["domainId"] and postmark["signatureId"] is None
    domain = await app_container.ctx.postmark.account.get_domain(postmark["domainId"])
    assert (domain.name, domain.dkim_verified, domain.return_path_verified) == (domain_of(slug), True, True)
    assert (await postmark_leftovers(app_container, domain_of(slug)))["signatures"] == []
    zone = {(r.name, r.type): r.value for r in await app_container.ctx.dns.list_records()}
    assert zone[(payload["dns"]["dkim"]["host"], "TXT")] == domain.dkim_text_value
    assert zone[(f"pm-bounces.{domain_of(slug)}", "CNAME")] == "pm.mtasv.net"
    await _signal(api, e_id, "unlock")

    billing = await _send(api, e_id, "k-billing", fromLocalPart="billing")
    orders = await _send(api, e_id, "k-orders", fromLocalPart="orders")
    default = await _send(api, e_id, "k-default")
    assert (billing.status_code, orders.status_code, default.status_code) == (202, 202, 202)
    assert orders.json()["payload"]["fromLocalPart"] == "orders"
    refused = await _send(api, e_id, "k-support", fromLocalPart="support")
    assert refused.status_code == 400 and "support" in refused.json()["message"]
    assert (await api.get("/job", params={"limit": 10})).json()["total"] == 3

    await dispatch_jobs(app_container.ctx)
    sent = {j["payload"]["status"] for j in (await api.get("/job", params={"limit": 10})).json()["items"]}
    assert sent <= {"SENT", "DELIVERED"}
    assert await _from_addresses(app_container, postmark["serverId"]) == [
        f'"Acme" <billing@{domain_of(slug)}>', f'"Acme" <billing@{domain_of(slug)}>',
        f'"Acme" <orders@{domain_of(slug)}>',
    ]


async def test_the_allow_list_is_edited_by_an_operator_audited_and_enforced_at_dispatch(
    app_container: Container, api: httpx.AsyncClient, slug: str,
) -> None:
    e_id = await _create(api, slug, authentication="domain", allowedFromLocalParts=["billing", "orders"])
    await _signal(api, e_id, "provision")
    await _ok(app_container, api, e_id)
    await _signal(api, e_id, "unlock")
    queued = await _send(api, e_id, "k-orders", fromLocalPart="orders")
    assert queued.status_code == 202

    edited = await api.patch(f"/configuration/{e_id}", json={"allowedFromLocalParts": ["billing", "support"]},
                             headers={"X-Author": "ops:alice"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["payload"]["allowedFromLocalParts"] == ["billing", "support"]
    last = (await _history(api, e_id))[-1]
    assert (last["signal"], last["metadata"]["author"]) == ("edit:allowedFromLocalParts", "ops:alice")
    assert (await _send(api, e_id, "k-support", fromLocalPart="support")).status_code == 202
    assert (await _send(api, e_id, "k-orders-2", fromLocalPart="orders")).status_code == 400

    await dispatch_jobs(app_container.ctx)  # the job queued with "orders" is never sent from it
    job = (await api.get(f"/job/{queued.json()['eId']}")).json()["payload"]
    assert (job["status"], job["lastError"]["code"]) == ("FAILED", "from_not_allowed")
    server_id = (await _payload(api, e_id))["postmark"]["serverId"]
    assert await _from_addresses(app_container, server_id) == [f'"Acme" <support@{domain_of(slug)}>']

    versions = len(await _history(api, e_id))
    for body in ({"allowedFromLocalParts": ["support"]}, {"allowedFromLocalParts": []},
                 {"allowedFromLocalParts": ["billing", "not valid"]}, {"fromName": "x"}):
        refused = await api.patch(f"/configuration/{e_id}", json=body)
        assert refused.status_code == 400, (body, refused.text)
    assert len(await _history(api, e_id)) == versions  # nothing changed


async def test_a_signature_configuration_allows_only_its_own_local_part(
    app_container: Container, api: httpx.AsyncClient, slug: str,
) -> None:
    e_id = await _create(api, slug)
    assert (await _payload(api, e_id))["allowedFromLocalParts"] == ["billing"]
    refused = await api.patch(f"/configuration/{e_id}", json={"allowedFromLocalParts": ["billing", "orders"]})
    assert refused.status_code == 400 and "domain" in refused.json()["message"]
    bad_create = await api.post("/configuration", json={
        "sendingDomainSlug": f"x{slug}", "signature": {"fromName": "A"}, "allowedFromLocalParts": ["noreply", "x"]})
    assert bad_create.status_code == 400
    assert (await api.patch("/configuration/nope", json={"allowedFromLocalParts": ["billing"]})).status_code == 404


async def test_re_provision_migrates_a_signature_configuration_to_a_domain(
    app_container: Container, api: httpx.AsyncClient, slug: str,
) -> None:
    e_id = await _create(api, slug)
    await _signal(api, e_id, "provision")
    before = await _ok(app_container, api, e_id)
    await _signal(api, e_id, "unlock")
    assert (await _send(api, e_id, "k-1")).status_code == 202
    await dispatch_jobs(app_container.ctx)
    assert (await _signal(api, e_id, "re-provision", 400, authentication="signature-or-so"))

    migrating = (await _signal(api, e_id, "re-provision", authentication="domain"))["payload"]
    assert (migrating["operationalStatus"], migrating["authentication"]) == ("PROVISIONING", "domain")
    assert migrating["postmark"]["signatureId"] is None
    assert migrating["postmark"]["serverId"] == before["postmark"]["serverId"]  # server and webhook kept
    assert migrating["postmark"]["webhookId"] == before["postmark"]["webhookId"]
    assert (await _send(api, e_id, "k-2")).status_code == 409  # not sendable while it migrates

    after = await _ok(app_container, api, e_id)
    assert after["postmark"]["domainId"] and after["authentication"] == "domain"
    assert (await postmark_leftovers(app_container, domain_of(slug)))["signatures"] == []
    causes = [(v["signal"], v["metadata"]["author"]) for v in await _history(api, e_id)]
    assert ("re-provision:domain", "tests") in causes
    edited = await api.patch(f"/configuration/{e_id}", json={"allowedFromLocalParts": ["billing", "orders"]})
    assert edited.status_code == 200
    assert (await _send(api, e_id, "k-3", fromLocalPart="orders")).status_code == 202
    await dispatch_jobs(app_container.ctx)
    assert await _from_addresses(app_container, after["postmark"]["serverId"]) == [
        f'"Acme" <billing@{domain_of(slug)}>', f'"Acme" <orders@{domain_of(slug)}>',
    ]
    # a domain configuration does not go back, and a PENDING one is provisioned as a domain instead
    await _signal(api, e_id, "re-provision", 400, authentication="signature")
    pending = await _create(api, f"p{slug}")
    await _signal(api, pending, "re-provision", 409, authentication="domain")


async def test_a_failing_create_domain_compensates_and_re_provision_succeeds(
    app_container: Container, api: httpx.AsyncClient, slug: str,
) -> None:
    await sandbox_control(app_container, "POST", "/faults",
                          {"kind": "status", "status": 500, "method": "POST", "path": "/domains"})
    e_id = await _create(api, slug, authentication="domain")
    await _signal(api, e_id, "provision")
    assert await provision_claimed(app_container.ctx) == 1
    payload = await _payload(api, e_id)
    assert payload["operationalStatus"] == "MISSING" and payload["lastError"]["step"] == "createDomain"
    assert payload["postmark"] == {"serverId": None, "signatureId": None, "domainId": None, "webhookId": None}
    assert (await postmark_leftovers(app_container, domain_of(slug)))["servers"] == []
    await _signal(api, e_id, "re-provision")
    await _ok(app_container, api, e_id)


async def test_a_domain_left_by_a_crash_or_an_earlier_attempt_is_adopted_not_duplicated(
    app_container: Container, api: httpx.AsyncClient, slug: str,
) -> None:
    ctx = app_container.ctx
    e_id = await _create(api, slug, authentication="domain")
    await _signal(api, e_id, "provision")
    leftover = await ctx.postmark.account.create_domain(domain_of(slug), return_path_domain="")
    payload = await _ok(app_container, api, e_id)
    assert payload["postmark"]["domainId"] == leftover.domain_id
    domain = await ctx.postmark.account.get_domain(leftover.domain_id)
    assert domain.return_path_domain == f"pm-bounces.{domain_of(slug)}"  # set to ours on adoption
    assert [d.domain_id for d in await ctx.postmark.account.list_domains() if d.name == domain_of(slug)] == [
        leftover.domain_id]


async def test_an_in_flight_create_domain_is_adopted_after_a_crash(
    app_container: Container, api: httpx.AsyncClient, slug: str,
) -> None:
    ctx = app_container.ctx
    e_id = await _create(api, slug, authentication="domain")
    await _signal(api, e_id, "provision")
    config = await load(ctx, TENANT, e_id)
    server = await ctx.postmark.account.create_server(f"ardamails-dev-{slug}", delivery_type="Sandbox")
    adopt_server(ctx, config, server)
    async with ctx.uow(TENANT) as uow:  # the server step recorded, then createDomain started …
        await uow.configurations.save(config, author="tests", cause="provisioning:createServer")
        await uow.commit()
    config = await load(ctx, TENANT, e_id)
    config.begin_step(config.next_provisioning_step)  # type: ignore[arg-type]
    async with ctx.uow(TENANT) as uow:
        await uow.configurations.mark_step_in_flight(config)
        await uow.commit()
    created = await ctx.postmark.account.create_domain(domain_of(slug), return_path_domain=f"pm-bounces.{domain_of(slug)}")
    payload = await _ok(app_container, api, e_id)  # … and the worker died before recording the answer
    assert payload["postmark"]["domainId"] == created.domain_id


async def test_removing_a_domain_configuration_deletes_its_domain(
    app_container: Container, api: httpx.AsyncClient, slug: str,
) -> None:
    e_id = await _create(api, slug, authentication="domain")
    await _signal(api, e_id, "provision")
    domain_id = (await _ok(app_container, api, e_id))["postmark"]["domainId"]
    removed = (await _signal(api, e_id, "remove"))["payload"]
    assert removed["operationalStatus"] == "REMOVED" and removed["postmark"]["domainId"] is None
    assert domain_id not in {d.domain_id for d in await app_container.ctx.postmark.account.list_domains()}
    assert await postmark_leftovers(app_container, domain_of(slug)) == {"servers": [], "signatures": [], "records": []}


async def test_a_domain_configuration_is_provisioned_by_the_worker(
    app_container: Container, api: httpx.AsyncClient, slug: str, worker: None,
) -> None:
    e_id = await _create(api, slug, authentication="domain")
    await _signal(api, e_id, "provision")

    async def is_ok() -> bool:
        return (await _payload(api, e_id))["operationalStatus"] == "OK"

    await eventually(is_ok, timeout=20)
