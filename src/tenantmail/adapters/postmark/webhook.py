"""Postmark webhook bodies → :class:`DeliveryEvent` (postmark-api.md §7).

Only this module knows Postmark's field names: which field holds the recipient (``Email`` for
bounces, ``Recipient`` otherwise), which holds the event's own time, that older payloads say
``ServerId``, and which bounce types are permanent. A body that is not a JSON object with a
``RecordType`` raises :class:`MalformedEvent`; a RecordType we do not know becomes
``EventKind.UNKNOWN`` and is stored, never refused (Postmark would drop it for good on a 4xx).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tenantmail.domain.delivery_event import DeliveryEvent, EventKind, MalformedEvent
from tenantmail.domain.errors import InvalidInput
from tenantmail.domain.json_input import loads
from tenantmail.domain.job import canonical_recipient
from tenantmail.domain.suppression import SuppressionReason

#: Every bounce ``Type`` with its ``TypeCode`` (postmark-api.md §7, from postmark.js's enum).
BOUNCE_TYPE_CODES: Mapping[str, int] = {
    "HardBounce": 1, "Transient": 2, "Unsubscribe": 16, "Subscribe": 32, "AutoResponder": 64,
    "AddressChange": 128, "DnsError": 256, "SpamNotification": 512, "OpenRelayTest": 1024,
    "Unknown": 2048, "SoftBounce": 4096, "VirusNotification": 8192, "ChallengeVerification": 16384,
    "BadEmailAddress": 100000, "SpamComplaint": 100001, "ManuallyDeactivated": 100002,
    "Unconfirmed": 100003, "Blocked": 100006, "SMTPApiError": 100007, "InboundError": 100008,
    "DMARCPolicy": 100009, "TemplateRenderingFailed": 100010,
}
_BOUNCE_TYPE_NAMES = {code: name for name, code in BOUNCE_TYPE_CODES.items()}

#: Bounce types that mean "this address will never accept mail": the ones for which Postmark
#: deactivates the address (the "Typical Inactive: yes" rows). Everything else — delays, DNS
#: errors, auto-replies, blocks by the receiving side, DMARC rejections of *our* mail — says
#: nothing final about the recipient, so it is stored without suppressing anyone.
#: SpamComplaint is its own kind (keyed off RecordType/Type, not TypeCode: payloads carry 512).
PERMANENT_BOUNCE_TYPES = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated"})


@dataclass(frozen=True)
class RecordType:
    """Where one RecordType keeps its recipient and its own timestamp, and how it is classified."""

    recipient_field: str
    time_field: str
    classify: Callable[[Mapping[str, Any]], EventKind]


def _bounce_kind(body: Mapping[str, Any]) -> EventKind:
    bounce_type = body.get("Type")
    if not isinstance(bounce_type, str):
        code = body.get("TypeCode")
        bounce_type = _BOUNCE_TYPE_NAMES.get(code) if isinstance(code, int) else None
    if bounce_type == "SpamComplaint":
        return EventKind.SPAM_COMPLAINT
    return EventKind.HARD_BOUNCE if bounce_type in PERMANENT_BOUNCE_TYPES else EventKind.SOFT_BOUNCE


def _subscription_kind(body: Mapping[str, Any]) -> EventKind:
    return EventKind.SUPPRESSED if body.get("SuppressSending") is True else EventKind.REACTIVATED


def _fixed(kind: EventKind) -> Callable[[Mapping[str, Any]], EventKind]:
    return lambda _body: kind


RECORD_TYPES: Mapping[str, RecordType] = {
    "Delivery": RecordType("Recipient", "DeliveredAt", _fixed(EventKind.DELIVERY)),
    "Bounce": RecordType("Email", "BouncedAt", _bounce_kind),
    "SpamComplaint": RecordType("Email", "BouncedAt", _fixed(EventKind.SPAM_COMPLAINT)),
    "Open": RecordType("Recipient", "ReceivedAt", _fixed(EventKind.OPEN)),
    "Click": RecordType("Recipient", "ReceivedAt", _fixed(EventKind.CLICK)),
    "SubscriptionChange": RecordType("Recipient", "ChangedAt", _subscription_kind),
}
#: An unknown RecordType: look for the usual fields, store it, change nothing.
_UNKNOWN = RecordType("Recipient", "ReceivedAt", _fixed(EventKind.UNKNOWN))


def parse_body(raw: bytes) -> Mapping[str, Any]:
    """The JSON object of a webhook request, or :class:`MalformedEvent`."""
    try:
        body = loads(raw)  # bounded: nesting ≤ 32, no NUL (SPEC §14)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEvent(f"the body is not JSON: {exc}") from exc
    except InvalidInput as exc:
        raise MalformedEvent(exc.message) from exc
    if not isinstance(body, dict):
        raise MalformedEvent("the body is not a JSON object")
    return body


def normalize(body: Mapping[str, Any]) -> DeliveryEvent:
    """The :class:`DeliveryEvent` a parsed webhook body describes."""
    record_type = body.get("RecordType")
    if not isinstance(record_type, str) or not record_type.strip():
        raise MalformedEvent("the body has no RecordType")
    shape = RECORD_TYPES.get(record_type, _UNKNOWN)
    metadata = body.get("Metadata") if isinstance(body.get("Metadata"), dict) else {}
    event = DeliveryEvent(
        record_type=record_type, kind=shape.classify(body),
        server_id=_int(body.get("ServerID", body.get("ServerId"))),
        message_id=_text(body.get("MessageID")),
        recipient=_recipient(body.get(shape.recipient_field)),
        occurred_at=parse_timestamp(body.get(shape.time_field)),
        job_e_id=_text(metadata.get("tm_job")),
        bounce_id=_int(body.get("ID")) if record_type in ("Bounce", "SpamComplaint") else None,
        suppression_reason=_suppression_reason(body.get("SuppressionReason")),
        payload=body,
    )
    _check_lengths(event)
    return event


def _check_lengths(event: DeliveryEvent) -> None:
    """Postmark's values are short (a RecordType name, a UUID, an address); longer is not Postmark."""
    for name, value, limit in (("RecordType", event.record_type, 32),
                               ("MessageID", event.message_id, 64),
                               ("recipient", event.recipient, 320)):
        if value is not None and len(value) > limit:
            raise MalformedEvent(f"{name} is longer than {limit} characters")


def parse_timestamp(value: object) -> datetime | None:
    """ISO 8601 as Postmark writes it (``Z``, 7 fractional digits); naive values are UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _recipient(value: object) -> str | None:
    return canonical_recipient(value) if isinstance(value, str) and value.strip() else None


def _suppression_reason(value: object) -> SuppressionReason | None:
    try:
        return SuppressionReason(value) if isinstance(value, str) else None
    except ValueError:
        return None
