"""The platform's documented request and response shapes (arda-email-facts.md §4 "API", "Example
request bodies", "DataAuthority envelope"), one test per shape, on both databases.

Where the platform is silent, the tests pin tenantmail's recorded choice (docs/decisions.md D16).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tenantmail.bootstrap import Container
from tenantmail.domain.job import JobStatus
from tenantmail.domain.suppression import SuppressionEntry, SuppressionOrigin, SuppressionReason
from tests.app_fixtures import TEST_API_KEY
from tests.helpers import create_configuration_via_api, sendable_configuration

pytestmark = pytest.mark.usefixtures("engine")  # each test starts on empty tables

#: ``POST /configuration`` exactly as the platform documents it.
DOCUMENTED_CONFIGURATION = {
    "sendingDomainSlug": "acme",
    "signatureRequest": {"fromLocalPart": "noreply", "fromName": "Acme Co", "replyToEmail": "support@acme.com"},
}
ERROR_KEYS = {"error", "message", "requestId"}


def documented_job(configuration_e_id: str) -> dict[str, Any]:
    """``POST /job`` as the platform documents it (the ``...`` of its base64 example dropped)."""
    return {
        "configurationEId": configuration_e_id, "recipient": "buyer@vendor.example",
        "replyToEmail": "support@acme.com", "subject": "PO-2026-00042: Order details",
        "htmlBody": "<html>...</html>", "textBody": "Order details: ...",
        "attachments": [{"filename": "po.pdf", "contentType": "application/pdf", "contentBase64": "JVBERi0xLjQK"}],
    }


def assert_error_body(response: httpx.Response, status: int, kind: str | None = None) -> dict[str, Any]:
    """The SPEC error body: ``{"error", "message", "requestId"}`` (+ optional ``details``)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert ERROR_KEYS <= set(body) <= ERROR_KEYS | {"details"}, body
    assert body["message"] and body["requestId"] == response.headers["x-request-id"]
    if kind is not None:
        assert body["error"] == kind, body
    return body


# --- POST /configuration: signatureRequest (documented) and signature (alias) ------------------------


async def test_the_documented_create_example_answers_201(api: httpx.AsyncClient) -> None:
    response = await api.post("/configuration", json=DOCUMENTED_CONFIGURATION)
    assert response.status_code == 201, response.text
    payload = response.json()["payload"]
    assert payload["signature"] == {  # responses keep the name `signature`
        "fromLocalPart": "noreply", "fromName": "Acme Co", "replyToEmail": "support@acme.com",
        "fromEmail": "noreply@acme.dev.ardamails.com",
    }
    assert (payload["operationalStatus"], payload["administrativeStatus"]) == ("PENDING", "LOCKED")
    assert "signatureRequest" not in payload


async def test_the_alias_signature_creates_the_same_configuration(api: httpx.AsyncClient) -> None:
    by_alias = await api.post("/configuration", json={
        "sendingDomainSlug": "acme", "signature": DOCUMENTED_CONFIGURATION["signatureRequest"]})
    assert by_alias.status_code == 201, by_alias.text
    assert by_alias.json()["payload"]["signature"]["fromName"] == "Acme Co"
    assert by_alias.json()["payload"]["signature"]["replyToEmail"] == "support@acme.com"


@pytest.mark.parametrize(("body", "message"), [
    ({**DOCUMENTED_CONFIGURATION, "signature": {"fromName": "Other"}},
     "send signatureRequest or its alias signature, not both"),
    ({"sendingDomainSlug": "acme"}, "signatureRequest: Field required (or its alias signature)"),
    ({"sendingDomainSlug": "acme", "signatureRequest": None},
     "signatureRequest: Input should be a valid dictionary"),
    ({"sendingDomainSlug": "acme", "signatureRequest": {"fromName": "A"}, "signature": None},
     "signature: Input should be a valid dictionary"),
    ({"sendingDomainSlug": "acme", "signatureRequest": {"fromName": "A", "fromEmail": "x@evil.example"}},
     "signatureRequest.fromEmail: Extra inputs are not permitted"),
])
async def test_signature_names_other_than_exactly_one_answer_400_and_store_nothing(
    api: httpx.AsyncClient, body: dict[str, Any], message: str,
) -> None:
    error = assert_error_body(await api.post("/configuration", json=body), 400, "ValidationError")
    assert error["message"].startswith(message), error
    assert (await api.get("/configuration")).json()["total"] == 0


async def test_a_slug_in_use_answers_409(api: httpx.AsyncClient) -> None:
    assert (await api.post("/configuration", json=DOCUMENTED_CONFIGURATION)).status_code == 201
    assert_error_body(await api.post("/configuration", json=DOCUMENTED_CONFIGURATION), 409, "SlugInUse")


# --- the DataAuthority record envelope and reads ------------------------------------------------------


async def test_the_create_envelope_is_the_documented_one(api: httpx.AsyncClient) -> None:
    """``{"eId","rId","asOf":{"effectiveFrom":<ms>,"recordedFrom":<ms>},"payload":{…,"eId"},
    "metadata":{"tenantId"}}`` (tenantmail adds ``metadata.author``, from ``X-Author``)."""
    before = int(time.time() * 1000)
    body = (await api.post("/configuration", json=DOCUMENTED_CONFIGURATION)).json()
    after = int(time.time() * 1000)
    assert set(body) == {"eId", "rId", "asOf", "payload", "metadata"}
    assert set(body["asOf"]) == {"effectiveFrom", "recordedFrom"}
    assert all(isinstance(v, int) and before - 1 <= v <= after for v in body["asOf"].values()), body["asOf"]
    assert body["payload"]["eId"] == body["eId"]
    assert body["metadata"] == {"tenantId": "tenant-a", "author": "tests"}
    read = (await api.get(f"/configuration/{body['eId']}")).json()
    assert read == body  # the read answers the same envelope


@pytest.mark.parametrize("parameter", ["recordedAsOf", "effectiveAsOf"])
async def test_reads_as_of_an_epoch_ms_answer_the_version_then_or_404(api: httpx.AsyncClient, parameter: str) -> None:
    created = await create_configuration_via_api(api, "asof")
    e_id, at_create = created["eId"], created["asOf"]["recordedFrom"]
    # a second version: force-lock is allowed while LOCKED (lock is not: it would change nothing, D15)
    locked = await api.post(f"/configuration/{e_id}/force-lock")
    assert locked.status_code == 200, locked.text
    at_lock = locked.json()["asOf"]["recordedFrom"]
    then = (await api.get(f"/configuration/{e_id}", params={parameter: at_create})).json()
    assert then["rId"] == created["rId"]
    now = (await api.get(f"/configuration/{e_id}", params={parameter: at_lock})).json()
    assert now["rId"] == locked.json()["rId"] != created["rId"]
    assert_error_body(await api.get(f"/configuration/{e_id}", params={parameter: at_create - 1}), 404, "NotFound")


async def test_a_read_of_an_unknown_or_another_tenants_configuration_is_404(
    api: httpx.AsyncClient, client_for: Callable[[str], httpx.AsyncClient],
) -> None:
    e_id = (await create_configuration_via_api(api, "mine"))["eId"]
    assert_error_body(await api.get("/configuration/no-such-eid"), 404, "NotFound")
    async with client_for("tenant-b") as other:
        assert_error_body(await other.get(f"/configuration/{e_id}"), 404, "NotFound")


async def test_a_job_read_refuses_as_of_parameters(api: httpx.AsyncClient, app_container: Container) -> None:
    """The platform documents as-of reads for DataAuthority resources (``/configuration``); jobs keep
    no versions, so an as-of read of one is refused rather than answered with today's state (D16)."""
    config = await sendable_configuration(app_container, "tenant-a", "jobread")
    job = await api.post("/job", json=documented_job(config.e_id), headers={"Idempotency-Key": "read-1"})
    for parameter in ("recordedAsOf", "effectiveAsOf"):
        refused = await api.get(f"/job/{job.json()['eId']}", params={parameter: 1})
        assert "GET /job/{eId}/events" in assert_error_body(refused, 400, "ValidationError")["message"]
    assert (await api.get(f"/job/{job.json()['eId']}")).json() == job.json()


# --- standard headers and errors ---------------------------------------------------------------------


async def test_requests_without_the_tenant_header_answer_400(api: httpx.AsyncClient) -> None:
    for method, path, body in (("GET", "/configuration", None), ("POST", "/configuration", DOCUMENTED_CONFIGURATION),
                               ("POST", "/job", documented_job("cfg"))):
        response = await api.request(method, path, json=body, headers={"X-Tenant-Id": "", "Idempotency-Key": "t-1"})
        assert_error_body(response, 400, "MissingTenant")


async def test_requests_without_a_valid_bearer_key_answer_401(api: httpx.AsyncClient) -> None:
    for authorization in ("", "Bearer wrong-key-0123456789", f"Basic {TEST_API_KEY}"):
        for method, path in (("GET", "/configuration"), ("POST", "/job")):
            response = await api.request(method, path, json={}, headers={"Authorization": authorization})
            assert_error_body(response, 401, "Unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"


async def test_an_illegal_signal_answers_409_naming_the_states(api: httpx.AsyncClient) -> None:
    e_id = (await create_configuration_via_api(api, "signal"))["eId"]
    body = assert_error_body(await api.post(f"/configuration/{e_id}/re-verify"), 409)
    assert "PENDING" in body["message"]


async def test_the_tenant_header_is_honoured_spelled_either_way_over_http(
    live_api: str, app_container: Container,
) -> None:
    """The DataAuthority guide spells it ``X-Tenant-ID``, the email docs ``X-Tenant-Id``: HTTP header
    names are case-insensitive, and both reach the same tenant on both lanes (``POST /job`` is the
    fast lane), over real HTTP where the spelling travels as sent."""
    config = await sendable_configuration(app_container, "tenant-a", "spelled")
    base = live_api + app_container.settings.api_prefix
    spellings = ["X-Tenant-ID", "X-Tenant-Id", "x-tenant-id", "X-TENANT-ID"]
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TEST_API_KEY}"}) as http:
        for n, name in enumerate(spellings):
            sent = await http.post("/job", json=documented_job(config.e_id),
                                   headers={name: "tenant-a", "Idempotency-Key": f"spell-{n}"})
            assert sent.status_code == 202, (name, sent.text)
            assert sent.json()["metadata"]["tenantId"] == "tenant-a"
            listed = await http.get("/job", headers={name: "tenant-a"})
            assert listed.status_code == 200 and listed.json()["total"] == n + 1, name
            assert (await http.get(f"/configuration/{config.e_id}", headers={name: "tenant-a"})).status_code == 200


# --- POST /job -----------------------------------------------------------------------------------------


async def test_the_documented_send_example_answers_202_with_the_job_envelope(
    api: httpx.AsyncClient, app_container: Container,
) -> None:
    """The platform leaves the success code open; tenantmail queues and answers 202 (SPEC §5, D16)."""
    config = await sendable_configuration(app_container, "tenant-a", "sendshape")
    response = await api.post("/job", json=documented_job(config.e_id), headers={"Idempotency-Key": "po-42"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"eId", "rId", "asOf", "payload", "metadata"}
    assert set(body["asOf"]) == {"effectiveFrom", "recordedFrom"}
    assert body["payload"]["eId"] == body["eId"]
    assert body["payload"]["configurationEId"] == config.e_id
    assert body["payload"]["recipient"] == "buyer@vendor.example"
    assert body["payload"]["status"] == JobStatus.QUEUED.value
    assert body["metadata"] == {"tenantId": "tenant-a", "author": "tests"}


async def test_a_send_without_an_idempotency_key_answers_400(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "nokey")
    body = assert_error_body(await api.post("/job", json=documented_job(config.e_id)), 400)
    assert "Idempotency-Key" in body["message"]


async def test_a_send_to_a_suppressed_recipient_answers_403(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "suppressed")
    async with app_container.ctx.uow("tenant-a") as uow:
        await uow.suppressions.add_if_absent(SuppressionEntry.new(
            tenant_id="tenant-a", recipient="buyer@vendor.example", reason=SuppressionReason.HARD_BOUNCE,
            origin=SuppressionOrigin.WEBHOOK, now=app_container.ctx.clock(),
        ))
        await uow.commit()
    refused = await api.post("/job", json=documented_job(config.e_id), headers={"Idempotency-Key": "sup-1"})
    assert assert_error_body(refused, 403)["details"]["reason"] == "HardBounce"
    assert (await api.get("/job")).json()["total"] == 0


async def test_replaying_the_key_of_an_inconsistent_job_answers_412(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "replay412")
    first = await api.post("/job", json=documented_job(config.e_id), headers={"Idempotency-Key": "inc-1"})
    async with app_container.ctx.uow("tenant-a") as uow:
        job = await uow.jobs.get(first.json()["eId"])
        job.move(JobStatus.INCONSISTENT, app_container.ctx.clock())
        await uow.jobs.save(job)
        await uow.commit()
    replay = await api.post("/job", json=documented_job(config.e_id), headers={"Idempotency-Key": "inc-1"})
    assert_error_body(replay, 412)
