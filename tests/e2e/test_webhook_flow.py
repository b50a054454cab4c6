"""Webhooks end to end on both databases: a configuration provisioned through the API (so the
sandbox holds the webhook with the credentials installed at provisioning), sends through the
worker, and the sandbox's own events posted over real HTTP to the live API.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tenantmail.bootstrap import Container
from tests.helpers import create_configuration_via_api, eventually, sandbox_control, send_body

pytestmark = pytest.mark.usefixtures("engine")  # each test starts on empty tables

BOUNCING = "HardBounce@bounce-testing.postmarkapp.com"


@pytest.fixture
async def configuration(api: httpx.AsyncClient, app_container: Container, live_api: str, worker: None) -> str:
    """Provisioned, verified and unlocked through the API and the worker; returns its eId."""
    e_id = (await create_configuration_via_api(api, "hooks"))["eId"]
    assert (await api.post(f"/configuration/{e_id}/provision")).status_code == 200

    async def verified() -> bool:
        return (await api.get(f"/configuration/{e_id}")).json()["payload"]["operationalStatus"] == "OK"

    await eventually(verified, timeout=20)
    assert (await api.post(f"/configuration/{e_id}/unlock")).status_code == 200
    return e_id


async def send(api: httpx.AsyncClient, configuration: str, recipient: str, key: str) -> httpx.Response:
    return await api.post("/job", json=send_body(configuration, recipient=recipient), headers={"Idempotency-Key": key})


async def reaches(api: httpx.AsyncClient, job_e_id: str, status: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        job = (await api.get(f"/job/{job_e_id}")).json()["payload"]
        return job if job["status"] == status else None

    return await eventually(probe, timeout=15)


async def test_delivery_webhook_marks_the_job_delivered(api, configuration) -> None:  # type: ignore[no-untyped-def]
    accepted = await send(api, configuration, "customer@example.com", "d-1")
    job = await reaches(api, accepted.json()["eId"], "DELIVERED")
    events = (await api.get(f"/job/{accepted.json()['eId']}/events")).json()
    assert [e["recordType"] for e in events["items"]] == ["Delivery"]
    assert events["items"][0]["messageId"] == job["messageId"]


async def test_bounce_suppresses_and_the_next_send_is_refused(api, configuration) -> None:  # type: ignore[no-untyped-def]
    accepted = await send(api, configuration, BOUNCING, "b-1")
    await reaches(api, accepted.json()["eId"], "BOUNCED")

    async def suppressed() -> list[dict[str, Any]]:
        return (await api.get("/suppression", params={"recipient": BOUNCING})).json()["items"]

    [entry] = await eventually(suppressed)
    assert entry["reason"] == "HardBounce"
    refused = await send(api, configuration, BOUNCING, "b-2")
    assert refused.status_code == 403
    assert refused.json()["error"] == "RecipientSuppressed"


async def test_spam_complaint_marks_the_job_complained(api, app_container, configuration) -> None:  # type: ignore[no-untyped-def]
    await sandbox_control(app_container, "POST", "/recipient-rules",
                          {"pattern": "angry@example.com", "outcome": "spam_complaint"})
    accepted = await send(api, configuration, "angry@example.com", "c-1")
    await reaches(api, accepted.json()["eId"], "COMPLAINED")
    entries = (await api.get("/suppression", params={"reason": "SpamComplaint"})).json()["items"]
    assert [e["recipient"] for e in entries] == ["angry@example.com"]
    assert (await api.post("/suppression/angry@example.com/remove")).status_code == 409
