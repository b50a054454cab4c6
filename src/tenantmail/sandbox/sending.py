"""Accepting one message: validate, check the sender and suppressions, store, process.

Order of checks follows what a client observes from Postmark: request validation (300/411/413),
stream (1235/1236), sender signature (400/401), then inactive recipients (406 when all are,
ErrorCode 0 with a warning when some are).
"""

from __future__ import annotations

import uuid
from typing import Any

from tenantmail.sandbox.clock import now_iso
from tenantmail.sandbox.context import Sandbox
from tenantmail.sandbox.errors import ApiError
from tenantmail.sandbox.lifecycle import process_recipient
from tenantmail.sandbox.signatures import sender_status
from tenantmail.sandbox.state import Document
from tenantmail.sandbox.streams import STREAM_TYPES
from tenantmail.sandbox.suppressions import suppressed
from tenantmail.sandbox.validation import ValidMessage, validate_message


def accept_message(sandbox: Sandbox, server: Document | None, raw: object) -> dict[str, Any]:
    """The send result object; raises :class:`ApiError` when Postmark would refuse the message.

    ``server=None`` is the ``POSTMARK_API_TEST`` token: validate only, record nothing.
    """
    message = validate_message(raw)
    _check_stream(message.stream)
    if server is None:
        return _result(message, str(uuid.uuid4()), "Test job accepted")
    _check_sender(sandbox, message.sender[1])
    inactive = [r for r in message.recipients
                if suppressed(sandbox, server["ID"], message.stream, r)]
    if len(inactive) == len(message.recipients):
        raise ApiError(406, "You tried to send to a recipient that has been marked as inactive.\n"
                            f"Found inactive addresses: {', '.join(inactive)}.\n"
                            "Inactive recipients are ones that have generated a hard bounce or a "
                            "spam complaint. ")
    stored = _store(sandbox, server, message)
    for recipient in message.recipients:
        if recipient not in inactive:
            process_recipient(sandbox, stored, recipient)
    if inactive:
        return _result(message, stored["MessageID"],
                       "Message OK, but will not deliver to these inactive addresses: "
                       f"{', '.join(a.lower() for a in inactive)}. Inactive recipients are ones "
                       "that have generated a hard bounce or a spam complaint.")
    return _result(message, stored["MessageID"], "OK")


def _check_stream(stream: str) -> None:
    if stream not in STREAM_TYPES:
        raise ApiError(1235, f"The 'MessageStream' provided does not exist on this server: '{stream}'.")
    if STREAM_TYPES[stream][1] == "Inbound":
        raise ApiError(1236, "Sending is not supported on the inbound message stream.")


def _check_sender(sandbox: Sandbox, address: str) -> None:
    status = sender_status(sandbox, address)
    if status == "missing":
        raise ApiError(400, f"The 'From' address you supplied ({address}) is not a Sender "
                            "Signature on your account. Please add and confirm this address in "
                            "order to be able to use it in the 'From' field of your messages.")
    if status == "unconfirmed":
        raise ApiError(401, f"The 'From' address you supplied ({address}) has not yet been "
                            "confirmed. Please check your inbox and confirm this address.")


def _addresses(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"Email": address, "Name": name} for name, address in pairs]


def _store(sandbox: Sandbox, server: Document, message: ValidMessage) -> Document:
    raw = message.raw
    doc = {
        "MessageID": str(uuid.uuid4()), "ServerID": server["ID"], "Tag": raw.get("Tag") or "",
        "MessageStream": message.stream, "To": _addresses(message.to),
        "Cc": _addresses(message.cc), "Bcc": _addresses(message.bcc),
        "Recipients": message.recipients, "ReceivedAt": now_iso(), "From": raw["From"],
        "Subject": raw.get("Subject") or "",
        "Attachments": [a["Name"] for a in raw.get("Attachments") or []], "Status": "Sent",
        "TrackOpens": bool(raw.get("TrackOpens", server["TrackOpens"])),
        "TrackLinks": raw.get("TrackLinks") or server["TrackLinks"],
        "Metadata": message.metadata, "Sandboxed": server["DeliveryType"] == "Sandbox",
        "TextBody": raw.get("TextBody") or "", "HtmlBody": raw.get("HtmlBody") or "",
        "ReplyTo": raw.get("ReplyTo") or "", "Headers": raw.get("Headers") or [],
        "MessageEvents": [],
    }
    return sandbox.state.put("message", doc["MessageID"], doc, scope=server["ID"])


def _result(message: ValidMessage, message_id: str, text: str) -> dict[str, Any]:
    result: dict[str, Any] = {"SubmittedAt": now_iso(), "MessageID": message_id,
                              "ErrorCode": 0, "Message": text}
    if message.raw.get("To"):
        result = {"To": message.raw["To"], **result}
    return result
