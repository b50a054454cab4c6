"""Notifications' rules without I/O: Standard Webhooks signatures (the published test vector),
the client's verification, endpoint URLs, secrets rotation, the failing window, attempt outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tenantmail.client import InvalidSignature, verify_notification
from tenantmail.domain.errors import InvalidInput
from tenantmail.domain.notification import (
    FAILING_WINDOW,
    AttemptOutcome,
    DisabledReason,
    NotificationEndpoint,
    NotificationType,
    decode_types,
    encode_types,
    new_secret,
    outcome_of,
    signature,
    signature_header,
    validate_url,
)

NOW = datetime(2026, 12, 7, tzinfo=UTC)
VECTOR = ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')


def test_the_signature_reproduces_the_standard_webhooks_test_vector() -> None:
    assert signature(*VECTOR) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _signed(secret: str, body: bytes, at: int, *secrets: str) -> dict[str, str]:
    return {"webhook-id": "msg_1", "webhook-timestamp": str(at),
            "webhook-signature": signature_header([secret, *secrets], "msg_1", at, body)}


def test_verify_notification_returns_the_parsed_event() -> None:
    secret, body = new_secret(), b'{"type":"job.sent","timestamp":"2026-12-07T00:00:00+00:00","data":{"eId":"j"}}'
    event = verify_notification(secret, _signed(secret, body, 1000), body, now=1000)
    assert (event.webhook_id, event.type, event.data) == ("msg_1", "job.sent", {"eId": "j"})


def test_verify_accepts_any_of_the_signatures_sent_during_a_rotation() -> None:
    old, new, body = new_secret(), new_secret(), b'{"type":"t","timestamp":"x","data":{}}'
    headers = _signed(new, body, 1000, old)
    assert verify_notification(old, headers, body, now=1000).type == "t"
    assert verify_notification(new, headers, body, now=1000).type == "t"


@pytest.mark.parametrize("tamper", ["body", "secret", "old", "future", "missing", "id"])
def test_verify_refuses_what_was_not_signed_now_with_this_secret(tamper: str) -> None:
    secret, body = new_secret(), b'{"type":"t","timestamp":"x","data":{}}'
    headers = _signed(secret, body, 1000)
    now = {"old": 1000 + 301, "future": 1000 - 301}.get(tamper, 1000)
    if tamper == "body":
        body = body.replace(b"{}", b'{"x":1}')
    if tamper == "secret":
        secret = new_secret()
    if tamper == "missing":
        del headers["webhook-signature"]
    if tamper == "id":
        headers["webhook-id"] = "msg_2"
    with pytest.raises(InvalidSignature):
        verify_notification(secret, headers, body, now=now)


@pytest.mark.parametrize("url", [
    "ftp://example.com/x", "example.com/hook", "https://", "https://" + "a" * 2040 + ".com/", "http://u:p@example.com/",
    "https://exa mple.com/", "javascript:alert(1)",
])
def test_urls_refused_everywhere(url: str) -> None:
    with pytest.raises(InvalidInput):
        validate_url(url, live=False)


@pytest.mark.parametrize("url", [
    "http://example.com/hook", "https://127.0.0.1/hook", "https://10.1.2.3/", "https://192.168.0.1/",
    "https://[::1]/", "https://169.254.169.254/latest", "https://localhost:8443/", "https://printer.local/",
    "https://intranet/", "https://[::ffff:10.0.0.1]/", "https://0.0.0.0/",
])
def test_urls_refused_in_a_live_partition_but_fine_in_development(url: str) -> None:
    with pytest.raises(InvalidInput):
        validate_url(url, live=True)
    assert validate_url(url.replace("https://", "http://", 1), live=False)


def test_a_public_https_url_is_fine_in_a_live_partition() -> None:
    assert validate_url("https://hooks.example.com:8443/email?x=1", live=True)


def test_event_type_filters_round_trip_and_empty_means_all() -> None:
    kinds = (NotificationType.JOB_SENT, NotificationType.SUPPRESSION_ADDED)
    assert encode_types(kinds) == ",job.sent,suppression.added,"
    assert decode_types(encode_types(kinds)) == tuple(sorted(kinds))
    endpoint = NotificationEndpoint.new(tenant_id="t", url="http://127.0.0.1/", event_types=(), description="",
                                        enabled=True, live=False, now=NOW)
    assert all(endpoint.wants(k) for k in NotificationType)


def test_a_rotated_secret_signs_beside_the_new_one_for_a_day() -> None:
    endpoint = NotificationEndpoint.new(tenant_id="t", url="http://127.0.0.1/", event_types=(), description="",
                                        enabled=True, live=False, now=NOW)
    first = endpoint.secret
    second = endpoint.rotate_secret(NOW)
    assert endpoint.signing_secrets(NOW + timedelta(hours=23)) == [second, first]
    assert endpoint.signing_secrets(NOW + timedelta(hours=24)) == [second]


def test_an_endpoint_failing_for_the_window_is_disabled_and_enabling_clears_it() -> None:
    endpoint = NotificationEndpoint.new(tenant_id="t", url="http://127.0.0.1/", event_types=(), description="",
                                        enabled=True, live=False, now=NOW)
    assert endpoint.record_failure(NOW) is False
    assert endpoint.record_failure(NOW + FAILING_WINDOW - timedelta(seconds=1)) is False
    assert endpoint.record_failure(NOW + FAILING_WINDOW) is True
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, DisabledReason.FAILING)
    endpoint.enable(NOW)
    assert (endpoint.enabled, endpoint.disabled_reason, endpoint.failing_since) == (True, None, None)


@pytest.mark.parametrize(("status", "outcome"), [
    (200, AttemptOutcome.DELIVERED), (204, AttemptOutcome.DELIVERED), (301, AttemptOutcome.RETRY),
    (400, AttemptOutcome.RETRY), (404, AttemptOutcome.RETRY), (410, AttemptOutcome.GONE), (500, AttemptOutcome.RETRY),
    (None, AttemptOutcome.RETRY),
])
def test_attempt_outcomes(status: int | None, outcome: AttemptOutcome) -> None:
    assert outcome_of(status) is outcome
