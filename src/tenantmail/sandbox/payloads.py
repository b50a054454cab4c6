"""Webhook bodies in the documented shapes (postmark-api.md §7), one function per RecordType."""

from __future__ import annotations

from typing import Any

from tenantmail.sandbox.clock import now_iso
from tenantmail.sandbox.state import Document

_CLIENT = {"Name": "Sandbox Mail", "Company": "tenantmail", "Family": "Sandbox"}
_OS = {"Name": "Sandbox OS", "Company": "tenantmail", "Family": "Sandbox"}


def _common(message: Document, recipient: str, record_type: str) -> dict[str, Any]:
    return {
        "RecordType": record_type, "ServerID": message["ServerID"],
        "MessageStream": message["MessageStream"], "MessageID": message["MessageID"],
        "Recipient": recipient, "Tag": message["Tag"], "Metadata": dict(message["Metadata"]),
    }


def delivery(message: Document, recipient: str) -> dict[str, Any]:
    return {**_common(message, recipient, "Delivery"), "DeliveredAt": now_iso(),
            "Details": "smtp;250 2.0.0 OK (sandbox: not really sent)"}


def bounce(record: Document, message: Document) -> dict[str, Any]:
    """Bounce and SpamComplaint share the bounce record's shape; the address is in ``Email``."""
    return {**{k: v for k, v in record.items() if k != "Content"},
            "Metadata": dict(message["Metadata"])}


def _tracking(message: Document, recipient: str, record_type: str) -> dict[str, Any]:
    """Open and Click payloads carry no ``ServerID`` (postmark-api.md §7)."""
    return {k: v for k, v in _common(message, recipient, record_type).items() if k != "ServerID"}


def open_(message: Document, recipient: str) -> dict[str, Any]:
    return {**_tracking(message, recipient, "Open"), "FirstOpen": True, "Client": _CLIENT,
            "OS": _OS, "Platform": "WebMail", "UserAgent": "tenantmail-sandbox", "ReadSeconds": 5,
            "Geo": {}, "ReceivedAt": now_iso()}


def click(message: Document, recipient: str) -> dict[str, Any]:
    return {**_tracking(message, recipient, "Click"), "Client": _CLIENT, "OS": _OS,
            "Platform": "WebMail", "UserAgent": "tenantmail-sandbox", "Geo": {},
            "ClickLocation": "HTML", "OriginalLink": "https://example.com/", "ReceivedAt": now_iso()}


def subscription_change(
    server_id: int, suppression: Document, suppress: bool, message: Document | None
) -> dict[str, Any]:
    """``MessageID``/``Tag`` null and ``Metadata`` empty when no message caused the change."""
    return {
        "RecordType": "SubscriptionChange", "ServerID": server_id,
        "MessageStream": suppression["MessageStream"],
        "MessageID": message["MessageID"] if message else None, "ChangedAt": now_iso(),
        "Recipient": suppression["EmailAddress"], "Origin": suppression["Origin"],
        "SuppressSending": suppress, "SuppressionReason": suppression["SuppressionReason"],
        "Tag": message["Tag"] if message else None,
        "Metadata": dict(message["Metadata"]) if message else {},
    }
