"""What a caller may ask to send, checked before anything else happens (SPEC §5 validation).

A :class:`SendRequest` only exists valid: recipient a single address (stored canonical), a one-line
subject, at least one body, attachments that are base64 of an allowed type, and the whole message
within Postmark's limits (each body ≤ 5 MB, everything ≤ 10 MB after base64; beyond → 413).
Its :meth:`fingerprint` is what an Idempotency-Key is bound to.
"""

from __future__ import annotations

import binascii
import base64
import hashlib
import json
import re
from dataclasses import dataclass, field, replace

from tenantmail.domain.configuration import validate_local_part
from tenantmail.domain.errors import InvalidInput, PayloadTooLarge
from tenantmail.domain.header_text import check_body_text, check_header_text
from tenantmail.domain.html_hardening import HtmlPolicy, harden_html
from tenantmail.domain.job import JobAttachment, canonical_recipient
from tenantmail.domain.job_fields import valid_metadata, valid_tag

MAX_MESSAGE_BYTES = 10 * 1024 * 1024  #: whole message incl. base64 attachments (postmark-api.md §4.2)
MAX_BODY_BYTES = 5 * 1024 * 1024  #: each of HtmlBody / TextBody
MAX_SUBJECT_CHARS = 2000
MAX_KEY_LENGTH = 255
#: Postmark refuses these extensions with ErrorCode 411 (postmark-api.md §4.2).
FORBIDDEN_EXTENSIONS = frozenset(
    "vbs exe bin bat chm com cpl crt hlp hta inf ins isp jse lnk mdb pcd pif reg scr sct shs "
    "vbe vba wsf wsh wsl msc msi msp mst".split()
)
_ADDRESS_BODY = (
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_ADDRESS = re.compile(f"^{_ADDRESS_BODY}$")
#: what :func:`valid_address` accepts (before trimming), as a JSON Schema ``pattern``
ADDRESS_PATTERN = f"^\\s*{_ADDRESS_BODY}\\s*$"
_MIME_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")


def validate_idempotency_key(key: str | None) -> str:
    """1–255 printable ASCII characters (space included), as SPEC §5 requires."""
    if not key:
        raise InvalidInput("the Idempotency-Key header is required")
    if len(key) > MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()):  # 0x20-0x7E
        raise InvalidInput("Idempotency-Key must be 1-255 printable ASCII characters")
    return key


def valid_address(value: str, what: str) -> str:
    """One bare address (no display name, no list), returned canonical (trimmed, lower-case)."""
    address = canonical_recipient(value)
    if len(address) > 320 or not _ADDRESS.match(address):
        raise InvalidInput(f"{what} must be a single valid email address")
    return address


@dataclass(frozen=True)
class SendRequest:
    configuration_e_id: str
    recipient: str  #: canonical
    subject: str
    reply_to_email: str | None = None
    html_body: str | None = field(default=None, repr=False)
    text_body: str | None = field(default=None, repr=False)
    attachments: tuple[JobAttachment, ...] = field(default=(), repr=False)
    #: the From's local part chosen by the caller (None: the configuration's); whether the
    #: configuration allows it is its own gate (``EmailConfiguration.check_from_local_part``)
    from_local_part: str | None = None
    tag: str | None = None  #: the caller's label (SPEC §17 "Job fields")
    metadata: dict[str, str] = field(default_factory=dict)  #: the caller's pairs; never ``tm_*``
    html_sanitized: bool = False  #: ``html_body`` is the sanitizer's output (policy ``sanitize``)

    @classmethod
    def parse(
        cls, *, configuration_e_id: str, recipient: str, subject: str,
        reply_to_email: str | None = None, html_body: str | None = None,
        text_body: str | None = None, attachments: tuple[JobAttachment, ...] = (),
        from_local_part: str | None = None, tag: str | None = None,
        metadata: dict[str, str] | None = None, html_policy: HtmlPolicy | str = HtmlPolicy.REJECT,
    ) -> SendRequest:
        """Validate every field; raise InvalidInput (400) or PayloadTooLarge (413). ``htmlBody``
        goes through the allow-list under ``html_policy`` (after the size checks: a body too large
        is 413 before it is parsed)."""
        if from_local_part is not None:
            validate_local_part(from_local_part, "fromLocalPart")
        request = cls(
            from_local_part=from_local_part,
            configuration_e_id=check_header_text(configuration_e_id, "configurationEId").strip(),
            recipient=valid_address(recipient, "recipient"),
            subject=_valid_subject(subject),
            reply_to_email=valid_address(reply_to_email, "replyToEmail") if reply_to_email else None,
            html_body=check_body_text(html_body, "htmlBody") if html_body else None,
            text_body=check_body_text(text_body, "textBody") if text_body else None,
            attachments=tuple(_valid_attachment(a) for a in attachments),
            tag=valid_tag(tag) if tag is not None else None,
            metadata=valid_metadata(metadata or {}),
        )
        if not request.configuration_e_id:
            raise InvalidInput("configurationEId is required")
        if request.html_body is None and request.text_body is None:
            raise InvalidInput("at least one of htmlBody and textBody is required")
        request._check_size()
        if request.html_body is not None:
            hardened = harden_html(request.html_body, HtmlPolicy(html_policy))
            if hardened.sanitized:
                request = replace(request, html_body=hardened.html, html_sanitized=True)
        return request

    def _check_size(self) -> None:
        bodies = [len(b.encode()) for b in (self.html_body, self.text_body) if b is not None]
        if any(size > MAX_BODY_BYTES for size in bodies):
            raise PayloadTooLarge("htmlBody and textBody may each be at most 5 MB")
        total = sum(bodies) + len(self.subject.encode()) + sum(len(a.content_base64) for a in self.attachments)
        if total > MAX_MESSAGE_BYTES:
            raise PayloadTooLarge(f"the message is {total} bytes; Postmark accepts at most 10 MB")

    def fingerprint(self) -> str:
        """SHA-256 of the canonical request: equal for requests meaning the same send."""
        canonical = {
            "configurationEId": self.configuration_e_id, "recipient": self.recipient,
            "subject": self.subject, "replyToEmail": self.reply_to_email,
            "htmlBody": self.html_body, "textBody": self.text_body,
            "attachments": [[a.filename, a.content_type, a.content_base64] for a in self.attachments],
        }
        if self.from_local_part is not None:  # absent otherwise: keys stored before it still match
            canonical["fromLocalPart"] = self.from_local_part
        if self.tag is not None:  # likewise
            canonical["tag"] = self.tag
        if self.metadata:
            canonical["metadata"] = self.metadata
        if self.html_sanitized:  # the body is what is sent; a retry of the same request sanitizes alike
            canonical["htmlSanitized"] = True
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _valid_subject(subject: str) -> str:
    if not subject or not subject.strip():
        raise InvalidInput("subject must not be empty")
    if "\r" in subject or "\n" in subject:
        raise InvalidInput("subject must be one line (no CR or LF)")
    check_header_text(subject, "subject")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise InvalidInput(f"subject may be at most {MAX_SUBJECT_CHARS} characters")
    return subject


def _valid_attachment(attachment: JobAttachment) -> JobAttachment:
    name = check_header_text(attachment.filename, "attachment filename").strip()
    if not name or any(ch in name for ch in "/\\"):
        raise InvalidInput("attachment filename must be a plain, non-empty file name")
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension in FORBIDDEN_EXTENSIONS:
        raise InvalidInput(f"attachment type .{extension} is not allowed by Postmark")
    if not _MIME_TYPE.match(attachment.content_type):
        raise InvalidInput(f"attachment {name}: contentType must be a MIME type such as application/pdf")
    if not attachment.content_base64:
        raise InvalidInput(f"attachment {name}: contentBase64 must not be empty")
    try:
        base64.b64decode(attachment.content_base64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"attachment {name}: contentBase64 is not valid base64") from None
    return JobAttachment(name, attachment.content_type, attachment.content_base64)
