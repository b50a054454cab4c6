"""Notifications end to end on both databases: a configuration provisioned through the API, sends
dispatched by the worker to the sandbox, the sandbox's webhooks posted over real HTTP to the live
API, and the notifications delivered by the same worker to a real local HTTP receiver — exactly the
expected events, each signature verified with the client's helper, per-job order kept."""

from __future__ import annotations

from collections import defaultdict

import pytest

from tenantmail.client import verify_notification
from tests.e2e.test_webhook_flow import configuration  # noqa: F401 (the provisioned, unlocked configuration)
from tests.helpers import eventually, sandbox_control, send_body
from tests.notification_support import NotificationReceiver

pytestmark = pytest.mark.usefixtures("engine")  # each test starts on empty tables

BOUNCING = "HardBounce@bounce-testing.postmarkapp.com"
ANGRY = "angry@example.com"
FINE = ("ann@example.com", "bob@example.com", "cy@example.com")


async def test_sends_deliveries_a_bounce_and_a_complaint_notify_exactly_the_expected_events(
    api, app_container, configuration, notification_receiver: NotificationReceiver,  # noqa: F811
) -> None:
    notification_receiver.failure_rate = 0.25  # some retries on the way
    created = await api.post("/notification-endpoint", json={
        "url": notification_receiver.url, "eventTypes": [
            "job.sent", "job.delivered", "job.bounced", "job.complained", "suppression.added"]})
    secret = created.json()["secret"]
    await sandbox_control(app_container, "POST", "/recipient-rules", {"pattern": ANGRY, "outcome": "spam_complaint"})
    jobs = {}
    for n, recipient in enumerate((*FINE, BOUNCING, ANGRY)):
        accepted = await api.post("/job", json=send_body(configuration, recipient=recipient),
                                  headers={"Idempotency-Key": f"n-{n}"})
        assert accepted.status_code == 202, accepted.text
        jobs[accepted.json()["eId"]] = recipient
    expected_per_job = {
        e_id: ["job.sent", {BOUNCING: "job.bounced", ANGRY: "job.delivered"}.get(r, "job.delivered")]
        + (["job.complained"] if r == ANGRY else []) for e_id, r in jobs.items()
    }
    expected_count = sum(len(v) for v in expected_per_job.values()) + 2  # two suppression.added

    await eventually(lambda: len(notification_receiver.unique()) >= expected_count, timeout=60)
    unique = notification_receiver.unique()
    per_job: dict[str, list[str]] = defaultdict(list)
    suppressed = []
    for arrival in unique.values():
        event = verify_notification(secret, arrival.headers, arrival.body)  # every one is signed
        if event.type.startswith("job."):
            per_job[event.data["eId"]].append(event.type)
        else:
            suppressed.append(event.data["recipient"])
    assert dict(per_job) == expected_per_job  # exactly these, and in each job's order
    assert sorted(suppressed) == sorted([BOUNCING.lower(), ANGRY])
    assert len(unique) == expected_count
    # each event's retries kept its webhook-id; a later event of a job never came before an earlier was taken
    for e_id in jobs:
        arrivals = [a for a in notification_receiver.arrivals if a.json["data"].get("eId") == e_id]
        taken = [a.json["type"] for a in arrivals if a.status == 200]
        assert taken[: len(expected_per_job[e_id])] == expected_per_job[e_id]
    delivered_job = next(e for e, r in jobs.items() if r == FINE[0])
    data = next(a.json["data"] for a in unique.values() if a.json["type"] == "job.delivered"
                and a.json["data"]["eId"] == delivered_job)
    assert data["messageId"] and data["status"] in ("DELIVERED",)
