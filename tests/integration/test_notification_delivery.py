"""Notifications delivered to a real local HTTP receiver, on both databases: signed as Standard
Webhooks (verified with the client's helper), retried with the same webhook-id and body, in order
per job, 410 and a 24 h failing streak disable the endpoint; the API's endpoint routes, delivery
log and manual retry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from tenantmail.bootstrap import Container
from tenantmail.client import verify_notification
from tenantmail.domain.job import JobStatus
from tenantmail.services.deliver_notifications import NotificationDelivery
from tenantmail.settings import Settings
from tests import webhook_support as pm
from tests.helpers import eventually
from tests.notification_support import NotificationReceiver, running_receiver
from tests.webhook_support import Seeded, seed

WEBHOOK = "/job/postmark-events"
BASE = "/notification-endpoint"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Retries in a fraction of a second, so a test sees several attempts."""
    return settings.model_copy(update={"notification_retry_base_seconds": 0.05, "notification_retry_cap_seconds": 0.1,
                                       "notification_timeout_seconds": 2.0})


@pytest.fixture
async def seeded(engine, app_container: Container) -> Seeded:  # engine: start from empty tables
    return await seed(app_container.ctx, "tenant-a")


async def create(api: httpx.AsyncClient, url: str, **body: Any) -> dict[str, Any]:
    response = await api.post(BASE, json={"url": url, **body})
    assert response.status_code == 201, response.text
    return response.json()


async def deliver(app: Container, until: Any, timeout: float = 15) -> None:
    """Run the delivery step until ``until()`` holds."""
    delivery = NotificationDelivery()

    async def done() -> bool:
        await delivery.step(app.ctx)
        await delivery.drain(app.ctx)
        return bool(until())

    await eventually(done, timeout=timeout, interval=0.02)


async def post_event(api: httpx.AsyncClient, seeded: Seeded, body: dict[str, Any]) -> None:
    assert (await api.post(WEBHOOK, json=body, auth=seeded.credentials)).status_code == 200


async def test_a_notification_arrives_signed_and_verifies_with_the_client_helper(
    api, app_container, seeded, notification_receiver: NotificationReceiver,
) -> None:
    endpoint = await create(api, notification_receiver.url, description="orders")
    assert endpoint["secret"].startswith("whsec_")
    job = seeded.job
    await post_event(api, seeded, pm.delivery(job.message_id, job.recipient, job=job.e_id))
    await deliver(app_container, lambda: notification_receiver.accepted())
    (arrival,) = notification_receiver.arrivals
    event = verify_notification(endpoint["secret"], arrival.headers, arrival.body)
    assert event.type == "job.delivered"
    assert event.data == (await api.get(f"/job/{job.e_id}")).json()["payload"]
    assert event.job().status == "DELIVERED"
    log = (await api.get(f"{BASE}/{endpoint['eId']}/deliveries")).json()
    (entry,) = log["items"]
    assert (entry["eId"], entry["state"], entry["attempts"], entry["lastStatusCode"]) == (
        arrival.webhook_id, "delivered", 1, 200)
    assert entry["lastLatencyMs"] is not None and entry["nextAttemptAt"] is None


async def test_failures_are_retried_with_the_same_id_and_body_until_delivered(
    api, app_container, seeded, notification_receiver: NotificationReceiver,
) -> None:
    notification_receiver.statuses.extend([500, 404, 302])
    endpoint = await create(api, notification_receiver.url)
    job = seeded.job
    await post_event(api, seeded, pm.delivery(job.message_id, job.recipient, job=job.e_id))
    await deliver(app_container, lambda: notification_receiver.accepted())
    arrivals = notification_receiver.arrivals
    assert [a.status for a in arrivals] == [500, 404, 302, 200]
    assert len({a.webhook_id for a in arrivals}) == 1 and len({a.body for a in arrivals}) == 1
    for arrival in arrivals:
        verify_notification(endpoint["secret"], arrival.headers, arrival.body)
    (entry,) = (await api.get(f"{BASE}/{endpoint['eId']}/deliveries")).json()["items"]
    assert (entry["attempts"], entry["state"]) == (4, "delivered")
    # the streak is on record; a success clears it once it is a minute old (one write a minute at most)
    assert (await api.get(f"{BASE}/{endpoint['eId']}")).json()["failingSince"] is not None
    async with app_container.ctx.uow("tenant-a") as uow:
        found = await uow.notifications.get(endpoint["eId"])
        found.failing_since = app_container.ctx.clock() - timedelta(minutes=2)
        await uow.notifications.save(found)
        await uow.commit()
    retried = await api.post(f"{BASE}/{endpoint['eId']}/deliveries/{arrivals[0].webhook_id}/retry")
    assert retried.status_code == 200
    await deliver(app_container, lambda: len(notification_receiver.arrivals) == 5)
    assert (await api.get(f"{BASE}/{endpoint['eId']}")).json()["failingSince"] is None


async def test_a_later_event_of_a_job_waits_for_the_earlier_one(
    api, app_container, engine, notification_receiver: NotificationReceiver,
) -> None:
    seeded = await seed(app_container.ctx, "tenant-a", status=JobStatus.SENDING)
    notification_receiver.statuses.extend([503, 503])
    await create(api, notification_receiver.url)
    job = seeded.job
    await post_event(api, seeded, pm.delivery(job.message_id, job.recipient, job=job.e_id))  # job.sent + job.delivered
    await deliver(app_container, lambda: len(notification_receiver.accepted()) == 2)
    assert [a.json["type"] for a in notification_receiver.arrivals] == ["job.sent"] * 3 + ["job.delivered"]


async def test_410_disables_the_endpoint_and_enabling_it_delivers_what_waited(
    api, app_container, seeded, notification_receiver: NotificationReceiver,
) -> None:
    notification_receiver.statuses.append(410)
    endpoint = await create(api, notification_receiver.url)
    job = seeded.job
    with capture_logs() as logs:
        await post_event(api, seeded, pm.delivery(job.message_id, job.recipient, job=job.e_id))
        await deliver(app_container, lambda: notification_receiver.arrivals)
    shown = (await api.get(f"{BASE}/{endpoint['eId']}")).json()
    assert (shown["enabled"], shown["disabledReason"]) == (False, "gone")
    assert any(e["event"] == "email.notification.endpoint_disabled" for e in logs)
    assert (await api.patch(f"{BASE}/{endpoint['eId']}", json={"enabled": True})).json()["enabled"] is True
    await deliver(app_container, lambda: notification_receiver.accepted())
    assert [a.status for a in notification_receiver.arrivals] == [410, 200]


async def test_an_endpoint_failing_for_24_hours_is_disabled(
    api, app_container, seeded, notification_receiver: NotificationReceiver,
) -> None:
    notification_receiver.failure_rate = 1.0
    endpoint = await create(api, notification_receiver.url)
    async with app_container.ctx.uow("tenant-a") as uow:
        found = await uow.notifications.get(endpoint["eId"])
        found.failing_since = app_container.ctx.clock() - timedelta(hours=24)
        await uow.notifications.save(found)
        await uow.commit()
    job = seeded.job
    await post_event(api, seeded, pm.delivery(job.message_id, job.recipient, job=job.e_id))
    await deliver(app_container, lambda: notification_receiver.arrivals)
    shown = (await api.get(f"{BASE}/{endpoint['eId']}")).json()
    assert (shown["enabled"], shown["disabledReason"]) == (False, "failing")


async def test_a_rotated_secret_and_the_old_one_both_verify_and_a_manual_retry_resends(
    api, app_container, seeded, notification_receiver: NotificationReceiver,
) -> None:
    endpoint = await create(api, notification_receiver.url)
    rotated = (await api.post(f"{BASE}/{endpoint['eId']}/rotate-secret")).json()
    assert rotated["secret"] != endpoint["secret"]
    job = seeded.job
    await post_event(api, seeded, pm.delivery(job.message_id, job.recipient, job=job.e_id))
    await deliver(app_container, lambda: notification_receiver.accepted())
    (arrival,) = notification_receiver.arrivals
    assert len(arrival.headers["webhook-signature"].split()) == 2
    for secret in (endpoint["secret"], rotated["secret"]):
        verify_notification(secret, arrival.headers, arrival.body)
    retried = await api.post(f"{BASE}/{endpoint['eId']}/deliveries/{arrival.webhook_id}/retry")
    assert retried.status_code == 200 and retried.json()["state"] == "pending"
    await deliver(app_container, lambda: len(notification_receiver.arrivals) == 2)
    assert notification_receiver.arrivals[1].webhook_id == arrival.webhook_id
    assert notification_receiver.arrivals[1].body == arrival.body


async def test_endpoint_routes_validate_and_never_show_the_secret_again(api, client_for, engine) -> None:
    for bad in ("ftp://example.com/x", "not a url", "http://" + "a" * 2048 + ".com", "https://"):
        response = await api.post(BASE, json={"url": bad})
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["error"] and response.json()["requestId"]
    assert (await api.post(BASE, json={"url": "http://127.0.0.1/x", "eventTypes": ["job.unknown"]})).status_code == 400
    assert (await api.get(BASE)).json()["total"] == 0  # bad input changed nothing
    endpoint = await create(api, "http://127.0.0.1:9/hook", eventTypes=["job.sent"], description="d")
    shown = (await api.get(f"{BASE}/{endpoint['eId']}")).json()
    assert "secret" not in shown and shown["eventTypes"] == ["job.sent"]
    assert "secret" not in (await api.get(BASE)).json()["items"][0]
    patched = await api.patch(f"{BASE}/{endpoint['eId']}", json={"eventTypes": [], "description": "all"})
    assert (patched.json()["eventTypes"], patched.json()["description"]) == ([], "all")
    assert (await api.patch(f"{BASE}/{endpoint['eId']}", json={"url": "gopher://x"})).status_code == 400
    async with client_for("tenant-b") as other:
        assert (await other.get(f"{BASE}/{endpoint['eId']}")).status_code == 404
        assert (await other.delete(f"{BASE}/{endpoint['eId']}")).status_code == 404
    assert (await api.delete(f"{BASE}/{endpoint['eId']}")).status_code == 204
    assert (await api.get(f"{BASE}/{endpoint['eId']}")).status_code == 404


async def test_a_live_partition_takes_only_https_to_public_addresses(api, app_container, engine) -> None:
    app_container.ctx.settings.__dict__["partition"] = "prod"  # is_live is derived from it
    try:
        assert (await api.post(BASE, json={"url": "http://hooks.example.com/x"})).status_code == 400
        assert (await api.post(BASE, json={"url": "https://10.0.0.8/x"})).status_code == 400
        assert (await api.post(BASE, json={"url": "https://hooks.example.com/x"})).status_code == 201
    finally:
        app_container.ctx.settings.__dict__["partition"] = "dev"


async def test_a_slow_receiver_does_not_hold_up_another_endpoint(api, app_container, engine, client_for) -> None:
    """Two tenants' endpoints, one receiver answering after 1.5 s: the other receives its
    notifications while the slow one's are still in flight (order of answers, not timings)."""
    journal: list[tuple[str, str]] = []
    with running_receiver(NotificationReceiver(delay_seconds=1.5, journal=journal)) as slow, \
            running_receiver(NotificationReceiver(journal=journal)) as fast:
        seeded = {}
        for tenant, receiver in (("tenant-slow", slow), ("tenant-fast", fast)):
            seeded[tenant] = await seed(app_container.ctx, tenant, server_id=100 + len(seeded))
            async with client_for(tenant) as client:
                await create(client, receiver.url)
        for tenant in ("tenant-slow", "tenant-fast"):  # the slow tenant's events come first
            job = seeded[tenant].job
            body = pm.delivery(job.message_id, job.recipient, job=job.e_id,
                               server_id=seeded[tenant].configuration.server_id or 0)
            await post_event(api, seeded[tenant], body)
        await deliver(app_container, lambda: slow.accepted() and fast.accepted())
    assert [url for url, _ in journal] == [fast.url, slow.url]

