"""The configuration routes over the API (ASGI), on both databases: create, read, list, history,
as-of reads, signals' guards, tenant isolation, force-lock vs lock on queued jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from tenantmail.bootstrap import Container
from tenantmail.domain.job import EmailJob, JobStatus
from tests.helpers import create_configuration_via_api, sendable_configuration

pytestmark = pytest.mark.usefixtures("engine")  # empty tables


async def test_create_answers_201_with_the_record_envelope_and_derived_addresses(api: httpx.AsyncClient) -> None:
    response = await api.post("/configuration", json={
        "sendingDomainSlug": "acme", "signature": {"fromName": "Acme Shop", "replyToEmail": "help@acme.example"}})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"eId", "rId", "asOf", "payload", "metadata"}
    assert body["metadata"] == {"tenantId": "tenant-a", "author": "tests"}
    assert body["asOf"]["effectiveFrom"] == body["asOf"]["recordedFrom"] > 0
    payload = body["payload"]
    assert payload["sendingDomainSlug"] == "acme"
    assert payload["sendingDomain"] == "acme.dev.ardamails.com"
    assert payload["signature"] == {
        "fromLocalPart": "noreply", "fromName": "Acme Shop", "replyToEmail": "help@acme.example",
        "fromEmail": "noreply@acme.dev.ardamails.com",
    }
    assert (payload["operationalStatus"], payload["administrativeStatus"]) == ("PENDING", "LOCKED")
    assert payload["postmark"] == {"serverId": None, "signatureId": None, "domainId": None, "webhookId": None}
    assert payload["dns"] is None and payload["lastError"] is None and payload["sendable"] is False


async def test_invalid_bodies_answer_400_and_store_nothing(api: httpx.AsyncClient) -> None:
    bad = [
        {"sendingDomainSlug": "Acme", "signature": {"fromName": "A"}},
        {"sendingDomainSlug": "-acme", "signature": {"fromName": "A"}},
        {"sendingDomainSlug": "acme", "signature": {"fromName": "A", "fromLocalPart": "a b"}},
        {"sendingDomainSlug": "acme", "signature": {"fromName": "A"}, "sendingDomain": "evil.com"},
        {"sendingDomainSlug": "acme"},
    ]
    for body in bad:
        response = await api.post("/configuration", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"] == "ValidationError"
    assert (await api.get("/configuration")).json()["total"] == 0


async def test_a_slug_in_use_by_any_live_configuration_answers_409(
    api: httpx.AsyncClient, client_for: Callable[[str], httpx.AsyncClient]
) -> None:
    await create_configuration_via_api(api, "acme")
    again = await api.post("/configuration", json={"sendingDomainSlug": "acme", "signature": {"fromName": "B"}})
    assert again.status_code == 409 and again.json()["error"] == "SlugInUse"
    async with client_for("tenant-b") as other:
        elsewhere = await other.post("/configuration", json={"sendingDomainSlug": "acme", "signature": {"fromName": "B"}})
    assert elsewhere.status_code == 409


async def test_another_tenants_configuration_is_404_on_every_route(
    api: httpx.AsyncClient, client_for: Callable[[str], httpx.AsyncClient]
) -> None:
    e_id = (await create_configuration_via_api(api, "acme"))["eId"]
    async with client_for("tenant-b") as other:
        for response in (
            await other.get(f"/configuration/{e_id}"),
            await other.get(f"/configuration/{e_id}/history"),
            await other.post(f"/configuration/{e_id}/lock"),
            await other.post(f"/configuration/{e_id}/provision"),
        ):
            assert response.status_code == 404, response.text
        assert (await other.get("/configuration")).json()["items"] == []
    assert (await api.get(f"/configuration/{e_id}")).json()["payload"]["operationalStatus"] == "PENDING"


async def test_generic_put_and_delete_are_not_mounted(api: httpx.AsyncClient) -> None:
    e_id = (await create_configuration_via_api(api, "acme"))["eId"]
    assert (await api.put(f"/configuration/{e_id}", json={})).status_code == 405
    assert (await api.delete(f"/configuration/{e_id}")).status_code == 405


async def test_an_illegal_signal_answers_409_naming_the_current_states(api: httpx.AsyncClient) -> None:
    e_id = (await create_configuration_via_api(api, "acme"))["eId"]
    response = await api.post(f"/configuration/{e_id}/re-verify")
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "IllegalSignal" and "PENDING" in body["message"] and "LOCKED" in body["message"]
    assert body["details"] == {"signal": "re-verify", "operationalStatus": "PENDING", "administrativeStatus": "LOCKED"}
    unknown = await api.post(f"/configuration/{e_id}/explode")
    assert unknown.status_code == 404  # each signal is its own route (the contract lists them, SPEC §14)


async def test_a_tenant_has_at_most_one_unlocked_configuration(api: httpx.AsyncClient) -> None:
    first = (await create_configuration_via_api(api, "first"))["eId"]
    second = (await create_configuration_via_api(api, "second"))["eId"]
    assert (await api.post(f"/configuration/{first}/unlock")).status_code == 200
    refused = await api.post(f"/configuration/{second}/unlock")
    assert refused.status_code == 409 and refused.json()["error"] == "TenantAlreadyUnlocked"
    assert (await api.post(f"/configuration/{first}/lock")).status_code == 200
    assert (await api.post(f"/configuration/{second}/unlock")).json()["payload"]["administrativeStatus"] == "UNLOCKED"


async def test_history_records_every_version_with_author_and_signal_and_as_of_reads_find_them(
    api: httpx.AsyncClient,
) -> None:
    created = await create_configuration_via_api(api, "acme")
    e_id = created["eId"]
    await asyncio.sleep(0.01)  # distinct millisecond timestamps between versions
    unlocked = (await api.post(f"/configuration/{e_id}/unlock", headers={"X-Author": "ops@example.com"})).json()
    await asyncio.sleep(0.01)
    await api.post(f"/configuration/{e_id}/force-lock")

    history = (await api.get(f"/configuration/{e_id}/history")).json()
    assert history["total"] == 3
    assert [(v["signal"], v["metadata"]["author"], v["payload"]["administrativeStatus"]) for v in history["items"]] == [
        ("create", "tests", "LOCKED"), ("unlock", "ops@example.com", "UNLOCKED"), ("force-lock", "tests", "LOCKED"),
    ]
    assert len({v["rId"] for v in history["items"]}) == 3

    at_unlock = unlocked["asOf"]["recordedFrom"]
    then = (await api.get(f"/configuration/{e_id}", params={"recordedAsOf": at_unlock})).json()
    assert then["rId"] == unlocked["rId"] and then["payload"]["administrativeStatus"] == "UNLOCKED"
    effective = (await api.get(f"/configuration/{e_id}", params={"effectiveAsOf": at_unlock - 1})).json()
    assert effective["rId"] == created["rId"]
    before = await api.get(f"/configuration/{e_id}", params={"recordedAsOf": created["asOf"]["recordedFrom"] - 1})
    assert before.status_code == 404
    now = (await api.get(f"/configuration/{e_id}")).json()
    assert now["rId"] == history["items"][-1]["rId"]


async def test_list_filters_by_states_and_paginates(api: httpx.AsyncClient) -> None:
    ids = [(await create_configuration_via_api(api, f"shop{i}"))["eId"] for i in range(3)]
    await api.post(f"/configuration/{ids[1]}/unlock")
    unlocked = (await api.get("/configuration", params={"administrativeStatus": "UNLOCKED"})).json()
    assert [c["eId"] for c in unlocked["items"]] == [ids[1]] and unlocked["total"] == 1
    both = (await api.get("/configuration", params=[("operationalStatus", "PENDING"), ("operationalStatus", "OK")])).json()
    assert both["total"] == 3
    page = (await api.get("/configuration", params={"limit": 2, "offset": 2})).json()
    assert (page["total"], page["limit"], page["offset"], [c["eId"] for c in page["items"]]) == (3, 2, 2, [ids[2]])
    assert (await api.get("/configuration", params={"operationalStatus": "NOPE"})).status_code == 400


async def _queue_jobs(app: Container, tenant: str, config_e_id: str, n: int) -> list[str]:
    now = app.ctx.clock()
    jobs = [EmailJob.queue(tenant_id=tenant, configuration_e_id=config_e_id, recipient=f"r{i}@example.com",
                           subject="s", idempotency_key=f"k{i}", now=now, text_body="b") for i in range(n)]
    async with app.ctx.uow(tenant) as uow:
        for job in jobs:
            await uow.jobs.add(job)
        await uow.commit()
    return [job.e_id for job in jobs]


async def _statuses(app: Container, tenant: str, e_ids: list[str]) -> set[JobStatus]:
    async with app.ctx.uow(tenant) as uow:
        return {(await uow.jobs.get(e_id)).status for e_id in e_ids}


async def test_lock_lets_queued_jobs_drain_and_force_lock_cancels_them_at_once(
    app_container: Container, api: httpx.AsyncClient,
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "acme")
    jobs = await _queue_jobs(app_container, "tenant-a", config.e_id, 3)

    locked = await api.post(f"/configuration/{config.e_id}/lock")
    assert locked.json()["payload"]["sendable"] is False
    assert await _statuses(app_container, "tenant-a", jobs) == {JobStatus.QUEUED}

    await api.post(f"/configuration/{config.e_id}/unlock")
    assert (await api.post(f"/configuration/{config.e_id}/force-lock")).status_code == 200
    assert await _statuses(app_container, "tenant-a", jobs) == {JobStatus.CANCELLED}


async def test_every_route_declares_its_errors_in_openapi(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    routes = {path: ops for path, ops in spec["paths"].items() if "/configuration" in path}
    assert len(routes) == 3 + 7  # the collection, one, its history, and one route per signal
    for path, operations in routes.items():
        for method, operation in operations.items():
            declared = set(operation["responses"])
            assert {"401", "503"} <= declared, (method, path)
            if "{eId}" in path:
                assert "404" in declared, (method, path)
    for signal in ("provision", "re-provision", "re-verify", "lock", "force-lock", "unlock", "remove"):
        assert "409" in routes[f"/v1/shop-access/email/configuration/{{eId}}/{signal}"]["post"]["responses"]
