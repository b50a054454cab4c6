"""Checks Postmark applies to one message before accepting it (postmark-api.md §4.2)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tenantmail.sandbox.addresses import parse_list, parse_single
from tenantmail.sandbox.errors import ApiError
from tenantmail.sandbox.servers import TRACK_LINKS

MAX_RECIPIENTS = 50
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
MAX_BATCH = 500
FORBIDDEN_EXTENSIONS = frozenset(
    "vbs exe bin bat chm com cpl crt hlp hta inf ins isp jse lnk mdb pcd pif reg scr sct shs "
    "vbe vba wsf wsh wsl msc msi msp mst".split()
)

Address = tuple[str, str]


@dataclass(frozen=True)
class ValidMessage:
    raw: dict[str, Any]
    sender: Address
    to: list[Address]
    cc: list[Address]
    bcc: list[Address]
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def recipients(self) -> list[str]:
        return [address for _, address in self.to + self.cc + self.bcc]

    @property
    def stream(self) -> str:
        return str(self.raw.get("MessageStream") or "outbound")


def validate_message(raw: object) -> ValidMessage:
    if not isinstance(raw, dict):
        raise ApiError(300, "Invalid email request: a JSON object is required.")
    if len(json.dumps(raw)) > MAX_MESSAGE_BYTES:
        raise ApiError(300, "Message size exceeds the 10 MB limit.", http_status=413)
    sender = parse_single(raw.get("From"), "From")
    to, cc, bcc = (parse_list(raw.get(f), f) for f in ("To", "Cc", "Bcc"))
    if not to + cc + bcc:
        raise ApiError(300, "Zero recipients specified.")
    if len(to + cc + bcc) > MAX_RECIPIENTS:
        raise ApiError(300, f"Too many recipients: at most {MAX_RECIPIENTS} (To, Cc and Bcc).")
    if not raw.get("HtmlBody") and not raw.get("TextBody"):
        raise ApiError(300, "Provide either email TextBody or HtmlBody or both.")
    if raw.get("TrackLinks", "None") not in TRACK_LINKS:
        raise ApiError(300, f"Invalid 'TrackLinks' value: '{raw.get('TrackLinks')}'.")
    _check_attachments(raw.get("Attachments") or [])
    return ValidMessage(raw, sender, to, cc, bcc, _metadata(raw.get("Metadata")))


def _metadata(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 10:
        raise ApiError(300, "Invalid metadata content. At most 10 string keys are allowed.")
    if len({k.lower() for k in value}) != len(value):
        raise ApiError(300, "Invalid metadata content. Keys must differ by more than case.")
    result = {str(k): "" if v is None else str(v) for k, v in value.items()}
    if any(len(k) > 20 or len(v) > 80 for k, v in result.items()):
        raise ApiError(300, "Invalid metadata content. Keys ≤ 20 and values ≤ 80 characters.")
    return result


def _check_attachments(attachments: object) -> None:
    if not isinstance(attachments, list):
        raise ApiError(300, "Invalid 'Attachments' value.")
    for attachment in attachments:
        name = str(attachment.get("Name") or "") if isinstance(attachment, dict) else ""
        if not name or "Content" not in attachment or "/" not in str(attachment.get("ContentType", "")):
            raise ApiError(300, "Attachments need a Name, a Content and a valid ContentType.")
        if name.rpartition(".")[2].lower() in FORBIDDEN_EXTENSIONS:
            raise ApiError(411, f"Forbidden attachment type: '{name}'.")
        content_id = str(attachment.get("ContentID") or "")
        if not content_id.isascii() or " " in content_id:
            raise ApiError(300, f"Invalid attachment ContentID: '{content_id}'.")
