"""The Postmark normalizer: every documented payload shape, the whole bounce TypeCode table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tenantmail.adapters.postmark.webhook import (
    BOUNCE_TYPE_CODES,
    PERMANENT_BOUNCE_TYPES,
    normalize,
    parse_body,
)
from tenantmail.domain.delivery_event import EventKind, MalformedEvent
from tenantmail.domain.job import JobStatus
from tenantmail.domain.suppression import SuppressionOrigin, SuppressionReason
from tests import webhook_support as pm


def test_delivery_carries_recipient_time_server_and_tm_job() -> None:
    event = normalize(pm.delivery("m-1", " John@Example.com ", job="job-1"))
    assert (event.kind, event.record_type, event.server_id) == (EventKind.DELIVERY, "Delivery", 23)
    assert (event.message_id, event.recipient, event.job_e_id) == ("m-1", "john@example.com", "job-1")
    assert event.occurred_at == datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC)
    assert event.implied_status is JobStatus.DELIVERED
    assert event.requested_suppression() is None


def test_older_server_id_spelling_is_read() -> None:
    body = pm.delivery("m", "a@b.c")
    body["ServerId"] = body.pop("ServerID")
    assert normalize(body).server_id == 23


@pytest.mark.parametrize("bounce_type", sorted(BOUNCE_TYPE_CODES))
def test_every_bounce_type_is_classified(bounce_type: str) -> None:
    event = normalize(pm.bounce("m", "a@b.c", bounce_type=bounce_type, type_code=BOUNCE_TYPE_CODES[bounce_type]))
    if bounce_type == "SpamComplaint":
        expected = EventKind.SPAM_COMPLAINT
    elif bounce_type in PERMANENT_BOUNCE_TYPES:
        expected = EventKind.HARD_BOUNCE
    else:
        expected = EventKind.SOFT_BOUNCE
    assert event.kind is expected
    assert event.recipient == "a@b.c"  # bounces name the address in Email


def test_permanent_types_are_the_ones_postmark_deactivates() -> None:
    assert PERMANENT_BOUNCE_TYPES == {"HardBounce", "BadEmailAddress", "ManuallyDeactivated"}
    assert len(BOUNCE_TYPE_CODES) == 22


def test_bounce_without_type_name_falls_back_to_type_code() -> None:
    body = pm.bounce("m", "a@b.c")
    body.pop("Type")
    body["TypeCode"] = 100000
    assert normalize(body).kind is EventKind.HARD_BOUNCE


def test_hard_bounce_asks_for_a_hard_bounce_suppression_and_keeps_the_bounce_id() -> None:
    event = normalize(pm.bounce("m", "a@b.c", bounce_id=4323372036854775807))
    assert event.bounce_id == 4323372036854775807
    assert event.implied_status is JobStatus.BOUNCED
    request = event.requested_suppression()
    assert (request.reason, request.origin) == (SuppressionReason.HARD_BOUNCE, SuppressionOrigin.WEBHOOK)


def test_spam_complaint_is_keyed_off_record_type_not_type_code() -> None:
    event = normalize(pm.spam_complaint("m", "a@b.c"))  # TypeCode 512 as in the docs' example
    assert event.kind is EventKind.SPAM_COMPLAINT
    assert event.implied_status is JobStatus.COMPLAINED
    assert event.requested_suppression().reason is SuppressionReason.SPAM_COMPLAINT


@pytest.mark.parametrize("build,kind", [(pm.open_event, EventKind.OPEN), (pm.click, EventKind.CLICK)])
def test_open_and_click_imply_nothing(build, kind) -> None:  # type: ignore[no-untyped-def]
    event = normalize(build("m", "a@b.c"))
    assert event.kind is kind
    assert event.implied_status is None and event.requested_suppression() is None
    assert event.occurred_at is not None


@pytest.mark.parametrize("reason", ["HardBounce", "SpamComplaint", "ManualSuppression"])
def test_subscription_change_suppress_keeps_postmarks_reason(reason: str) -> None:
    event = normalize(pm.subscription_change("a@b.c", suppress=True, reason=reason))
    assert event.kind is EventKind.SUPPRESSED
    assert event.message_id is None
    request = event.requested_suppression()
    assert (request.reason.value, request.origin) == (reason, SuppressionOrigin.POSTMARK)


def test_subscription_change_without_reason_is_a_manual_suppression() -> None:
    event = normalize(pm.subscription_change("a@b.c", suppress=True, reason=None))
    assert event.requested_suppression().reason is SuppressionReason.MANUAL


def test_subscription_change_reactivation_lifts() -> None:
    event = normalize(pm.subscription_change("a@b.c", suppress=False))
    assert event.kind is EventKind.REACTIVATED and event.lifts_suppression
    assert event.requested_suppression() is None


def test_unknown_record_type_is_unknown_not_an_error() -> None:
    event = normalize({"RecordType": "Inbound", "ServerID": 23})
    assert event.kind is EventKind.UNKNOWN and event.implied_status is None


@pytest.mark.parametrize("body", [
    {}, {"RecordType": None}, {"RecordType": "  "}, {"RecordType": "x" * 33},
    {"RecordType": "Delivery", "MessageID": "m" * 65},
])
def test_bodies_without_a_usable_record_type_are_malformed(body) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MalformedEvent):
        normalize(body)


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'"text"', b"\xff\xfe"])
def test_non_object_json_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedEvent):
        parse_body(raw)


def test_unparseable_timestamp_becomes_none() -> None:
    body = {**pm.delivery("m", "a@b.c"), "DeliveredAt": "yesterday"}
    assert normalize(body).occurred_at is None


def test_dedup_key_is_stable_short_and_scoped_to_the_tenant() -> None:
    body = pm.bounce("m", "a@b.c", bounce_id=5)
    first, again = normalize(body), normalize(dict(body))
    key = first.dedup_key("tenant-a", "config-1")
    assert key == again.dedup_key("tenant-a", "config-1") and len(key) <= 128
    assert key != first.dedup_key("tenant-b", "config-1")
    assert key != normalize({**body, "ID": 6}).dedup_key("tenant-a", "config-1")
    assert key != normalize({**body, "BouncedAt": pm.at(99)}).dedup_key("tenant-a", "config-1")
