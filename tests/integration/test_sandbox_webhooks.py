"""Events a message produces, posted to installed webhooks with their auth and headers."""

from __future__ import annotations

import base64
from typing import Any

from tests.sandbox_fixtures import Emulator, Receiver, eventually


ALL_ON = {name: {"Enabled": True} for name in
          ("Delivery", "Bounce", "SpamComplaint", "Open", "Click", "SubscriptionChange")}


def _tenant(emulator: Emulator, receiver: Receiver) -> tuple[Any, str, dict[str, Any]]:
    server = emulator.create_server(DeliveryType="Sandbox")
    api = emulator.server(server["ApiTokens"][0])
    hook = api.post("/webhooks", json={
        "Url": receiver.url, "MessageStream": "outbound", "Triggers": ALL_ON,
        "HttpAuth": {"Username": "pm", "Password": "s3cret"},
        "HttpHeaders": [{"Name": "X-Shared", "Value": "abc"}],
    })
    assert hook.status_code == 200, hook.text
    return api, emulator.verified_sender(), server


def _send(api: Any, sender: str, to: str, **fields: Any) -> dict[str, Any]:
    sent = api.post("/email", json={"From": sender, "To": to, "Subject": "S", "TextBody": "T",
                                    "Tag": "welcome", "Metadata": {"send_id": "42"},
                                    **fields}).json()
    assert sent["ErrorCode"] == 0, sent
    return sent


def test_delivery_event_carries_auth_headers_and_documented_fields(
    emulator: Emulator, webhook_receiver: Receiver
) -> None:
    api, sender, server = _tenant(emulator, webhook_receiver)
    sent = _send(api, sender, "reader@example.net")
    eventually(lambda: webhook_receiver.bodies("Delivery"))
    request = webhook_receiver.requests[0]
    assert request["headers"]["authorization"] == "Basic " + base64.b64encode(b"pm:s3cret").decode()
    assert request["headers"]["x-shared"] == "abc"
    assert request["headers"]["x-pm-webhook-trace-id"]
    body = request["json"]
    assert body["MessageID"] == sent["MessageID"] and body["ServerID"] == server["ID"]
    assert (body["Recipient"], body["MessageStream"], body["Tag"]) == ("reader@example.net", "outbound", "welcome")
    assert body["Metadata"] == {"send_id": "42"} and body["DeliveredAt"]


def test_webhook_posts_are_retried_after_server_errors(
    emulator: Emulator, webhook_receiver: Receiver
) -> None:
    api, sender, _ = _tenant(emulator, webhook_receiver)
    webhook_receiver.statuses.extend([500, 503])
    _send(api, sender, "reader@example.net")
    eventually(lambda: len(webhook_receiver.requests) == 3)
    assert "x-pm-retries-remaining" in webhook_receiver.requests[2]["headers"]
    tries = emulator.control.get("/webhook-attempts?record_type=Delivery").json()
    assert [a["status"] for a in tries] == [500, 503, 200]
    assert len({a["trace_id"] for a in tries}) == 1


def test_client_errors_from_the_receiver_are_not_retried(
    emulator: Emulator, webhook_receiver: Receiver
) -> None:
    api, sender, _ = _tenant(emulator, webhook_receiver)
    webhook_receiver.statuses.append(403)
    _send(api, sender, "reader@example.net")
    eventually(lambda: emulator.control.get("/deliveries").json()["pending"] == 0 and
               webhook_receiver.requests)
    assert [a["status"] for a in emulator.control.get("/webhook-attempts").json()] == [403]


def test_hard_bounce_posts_bounce_and_subscription_change_and_next_send_gets_406(
    emulator: Emulator, webhook_receiver: Receiver
) -> None:
    api, sender, _ = _tenant(emulator, webhook_receiver)
    emulator.control.post("/recipient-rules", json={"pattern": "*@bounce.example",
                                                    "outcome": "hard_bounce"})
    sent = _send(api, sender, "dead@bounce.example")
    bounce = eventually(lambda: webhook_receiver.bodies("Bounce"))[0]
    assert (bounce["Type"], bounce["TypeCode"], bounce["Email"]) == ("HardBounce", 1, "dead@bounce.example")
    assert bounce["MessageID"] == sent["MessageID"] and bounce["Inactive"] is True
    change = eventually(lambda: webhook_receiver.bodies("SubscriptionChange"))[0]
    assert change["SuppressSending"] is True and change["SuppressionReason"] == "HardBounce"
    again = api.post("/email", json={"From": sender, "To": "dead@bounce.example", "TextBody": "x"})
    assert again.json()["ErrorCode"] == 406
    activated = api.put(f"/bounces/{bounce['ID']}/activate").json()
    assert activated["Bounce"]["Inactive"] is False
    assert api.post("/email", json={"From": sender, "To": "dead@bounce.example",
                                    "TextBody": "x"}).json()["ErrorCode"] == 0


def test_spam_complaint_follows_delivery_and_cannot_be_lifted(
    emulator: Emulator, webhook_receiver: Receiver
) -> None:
    api, sender, _ = _tenant(emulator, webhook_receiver)
    sent = _send(api, sender, "reader@example.net")
    emulator.control.post(f"/messages/{sent['MessageID']}/events", json={"outcome": "spam_complaint"})
    complaint = eventually(lambda: webhook_receiver.bodies("SpamComplaint"))[0]
    assert complaint["CanActivate"] is False and complaint["Email"] == "reader@example.net"
    lifted = api.post("/message-streams/outbound/suppressions/delete",
                      json={"Suppressions": [{"EmailAddress": "reader@example.net"}]}).json()
    assert lifted["Suppressions"][0]["Status"] == "Failed"


def test_duplicated_and_reordered_deliveries(emulator: Emulator, webhook_receiver: Receiver) -> None:
    api, sender, _ = _tenant(emulator, webhook_receiver)
    emulator.control.put("/settings", json={"duplicate_deliveries": True, "reorder_deliveries": True,
                                            "reorder_window_seconds": 0.2})
    emulator.control.post("/recipient-rules", json={"pattern": "opener@example.net", "outcome": "open"})
    _send(api, sender, "opener@example.net", HtmlBody="<p>T</p>", TrackOpens=True)
    eventually(lambda: len(webhook_receiver.requests) == 4)
    types = [body["RecordType"] for body in webhook_receiver.bodies()]
    assert types == ["Open", "Open", "Delivery", "Delivery"]
    traces = [r["headers"]["x-pm-webhook-trace-id"] for r in webhook_receiver.requests]
    assert traces[0] == traces[1] and traces[2] == traces[3]


def test_opens_and_clicks_need_tracking_and_carry_no_server_id(
    emulator: Emulator, webhook_receiver: Receiver
) -> None:
    api, sender, _ = _tenant(emulator, webhook_receiver)
    emulator.control.post("/recipient-rules", json=[
        {"pattern": "opener@example.net", "outcome": "open"},
        {"pattern": "clicker@example.net", "outcome": "click"}])
    _send(api, sender, "opener@example.net")  # text only, no tracking: a delivery, nothing else
    _send(api, sender, "clicker@example.net")
    eventually(lambda: len(webhook_receiver.bodies("Delivery")) == 2)
    _send(api, sender, "opener@example.net", HtmlBody="<p>T</p>", TrackOpens=True)
    _send(api, sender, "clicker@example.net", TrackLinks="HtmlAndText")
    opened = eventually(lambda: webhook_receiver.bodies("Open"))[0]
    clicked = eventually(lambda: webhook_receiver.bodies("Click"))[0]
    assert "ServerID" not in opened and "ServerID" not in clicked
    assert opened["Recipient"] == "opener@example.net" and clicked["OriginalLink"]
    assert len(webhook_receiver.bodies("Open")) == 1 and len(webhook_receiver.bodies("Click")) == 1
    assert all("ServerID" in body for body in webhook_receiver.bodies("Delivery"))
    untracked = _send(api, sender, "someone@example.net")
    refused = emulator.control.post(f"/messages/{untracked['MessageID']}/events", json={"outcome": "open"})
    assert refused.status_code == 400 and "tracking" in refused.json()["Message"]
