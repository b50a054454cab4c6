"""Postmark, as services see it: the account API, per-server APIs, their values and their error.

Values are small frozen dataclasses in our own vocabulary (snake_case); the PascalCase of
Postmark's wire format never leaves ``adapters/postmark``. Every failed call raises
:class:`PostmarkError` (the adapter's tree, ``adapters/postmark/errors.py``, subclasses it), so a
service reads ``http_status``, ``error_code`` and ``error_class`` off a type it can name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol

from tenantmail.domain.send_errors import SendErrorClass, is_not_found


class PostmarkError(Exception):
    """A Postmark call failed; ``error_class`` says what the caller may do about it."""

    error_class: ClassVar[SendErrorClass] = SendErrorClass.PERMANENT

    def __init__(
        self, message: str, *, http_status: int | None = None, error_code: int | None = None
    ):
        super().__init__(message)
        self.message = message
        self.http_status = http_status  #: None when no answer was received
        self.error_code = error_code  #: Postmark's ErrorCode; None when the body carried none

    @property
    def is_not_found(self) -> bool:
        """The resource does not exist (HTTP 404 or a not-found ErrorCode): removal may treat
        it as done."""
        return is_not_found(self.http_status, self.error_code)

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.http_status}, ErrorCode {self.error_code})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, http_status={self.http_status!r}, "
            f"error_code={self.error_code!r})"
        )


@dataclass(frozen=True)
class PostmarkServer:
    server_id: int
    name: str
    delivery_type: str  #: "Live" or "Sandbox"
    api_token: str = field(repr=False, default="")  #: ApiTokens[0]; plaintext only in memory


@dataclass(frozen=True)
class PostmarkSignature:
    signature_id: int
    email_address: str
    name: str
    confirmed: bool
    dkim_verified: bool
    return_path_verified: bool
    dkim_host: str  #: DKIMHost or, while pending, DKIMPendingHost
    dkim_value: str  #: DKIMTextValue or, while pending, DKIMPendingTextValue
    return_path_domain: str
    return_path_cname_value: str


@dataclass(frozen=True)
class PostmarkWebhook:
    webhook_id: int
    url: str
    message_stream: str
    username: str | None
    triggers: frozenset[str]  #: enabled trigger names: Delivery, Bounce, SpamComplaint, Open, Click, SubscriptionChange


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content_base64: str = field(repr=False)


@dataclass(frozen=True)
class OutboundEmail:
    from_address: str  #: '"Name" <local@domain>'
    to: str
    subject: str
    html_body: str | None = field(default=None, repr=False)
    text_body: str | None = field(default=None, repr=False)
    reply_to: str | None = None
    attachments: Sequence[Attachment] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    message_stream: str = "outbound"
    tag: str | None = None


@dataclass(frozen=True)
class SendOutcome:
    """One message's answer: from ``POST /email`` or one item of ``POST /email/batch``."""

    to: str
    error_code: int  #: 0 = accepted
    message: str
    message_id: str | None = None
    submitted_at: datetime | None = None

    @property
    def accepted(self) -> bool:
        return self.error_code == 0


@dataclass(frozen=True)
class OutboundMessageSummary:
    message_id: str
    recipients: tuple[str, ...]
    status: str
    metadata: Mapping[str, str]
    received_at: datetime | None


@dataclass(frozen=True)
class PostmarkSuppression:
    email_address: str
    reason: str  #: HardBounce, SpamComplaint, ManualSuppression
    origin: str  #: Recipient, Customer, Admin
    created_at: datetime | None


@dataclass(frozen=True)
class PostmarkServerEdit:
    """What ``PUT /servers/{id}`` may change; ``None`` leaves a field as it is (partial update).

    ``DeliveryType`` is fixed at creation, so it is not here.
    """

    name: str | None = None
    color: str | None = None  #: Purple, Blue, Turquoise, Green, Red, Yellow, Grey, Orange
    smtp_api_activated: bool | None = None
    raw_email_enabled: bool | None = None
    track_opens: bool | None = None
    track_links: str | None = None  #: None, HtmlAndText, HtmlOnly, TextOnly
    inbound_spam_threshold: int | None = None  #: 0..30 in steps of 5
    include_bounce_content_in_hook: bool | None = None
    enable_smtp_api_error_hooks: bool | None = None


@dataclass(frozen=True)
class PostmarkServerDetails:
    """The whole server object; ``server`` is the part the provisioning code already uses."""

    server: PostmarkServer
    color: str
    smtp_api_activated: bool
    raw_email_enabled: bool
    server_link: str
    inbound_address: str
    inbound_hash: str
    inbound_domain: str | None
    inbound_spam_threshold: int
    track_opens: bool
    track_links: str
    include_bounce_content_in_hook: bool
    enable_smtp_api_error_hooks: bool
    post_first_open_only: bool
    hook_urls: Mapping[str, str | None]  #: legacy hooks: Inbound, Bounce, Open...


@dataclass(frozen=True)
class MessageAddress:
    email: str
    name: str


@dataclass(frozen=True)
class MessageEvent:
    recipient: str
    type: str  #: Delivered, Transient, Opened, Bounced, SubscriptionChanged, LinkClicked
    received_at: datetime | None
    details: Mapping[str, str]  #: e.g. DeliveryMessage, DestinationServer, Summary, BounceID


@dataclass(frozen=True)
class OutboundMessageDetails:
    """``GET /messages/outbound/{id}/details``: the search item plus bodies and events."""

    summary: OutboundMessageSummary
    message_stream: str
    from_address: str
    subject: str
    tag: str
    to: tuple[MessageAddress, ...]
    cc: tuple[MessageAddress, ...]
    bcc: tuple[MessageAddress, ...]
    attachments: tuple[str, ...]  #: attachment names
    track_opens: bool
    track_links: str
    sandboxed: bool
    text_body: str = field(repr=False)
    html_body: str = field(repr=False)
    raw_body: str = field(repr=False)  #: the ``Body`` field, raw MIME source when Postmark has it
    events: tuple[MessageEvent, ...] = ()


@dataclass(frozen=True)
class PostmarkBounce:
    """One bounce (or spam complaint) record of the Bounces API."""

    bounce_id: int
    record_type: str  #: Bounce or SpamComplaint
    type: str  #: HardBounce, SoftBounce, SpamComplaint... (postmark-api.md §7)
    type_code: int
    name: str
    tag: str
    message_id: str
    server_id: int
    message_stream: str
    description: str
    details: str
    email: str
    from_address: str
    bounced_at: datetime | None
    dump_available: bool
    inactive: bool  #: the address is deactivated (suppressed) because of this bounce
    can_activate: bool  #: false for spam complaints
    subject: str
    content: str = field(default="", repr=False)  #: only ``GET /bounces/{id}`` carries it


@dataclass(frozen=True)
class PostmarkDomain:
    """A Domains API domain; a list's brief item leaves the DNS record fields empty."""

    domain_id: int
    name: str
    dkim_verified: bool  #: "has ever been verified" (sticky)
    weak_dkim: bool
    dkim_host: str
    dkim_text_value: str
    dkim_pending_host: str
    dkim_pending_text_value: str
    dkim_revoked_host: str
    dkim_revoked_text_value: str
    safe_to_remove_revoked_key: bool
    dkim_update_status: str  #: Pending, Verified
    return_path_domain: str
    return_path_verified: bool
    return_path_cname_value: str
    spf_verified: bool  #: deprecated by Postmark; kept because the object carries it
    spf_host: str
    spf_text_value: str


@dataclass(frozen=True)
class BounceCount:
    """One line of ``GET /deliverystats``: ``All`` first, then one per bounce type seen."""

    name: str  #: "All", "Hard bounce", ...
    count: int
    type: str | None = None  #: None for ``All`` (Postmark's docs give it no type)
    type_code: int | None = None


@dataclass(frozen=True)
class DeliveryStats:
    inactive_mails: int  #: addresses deactivated by bounces or complaints
    bounces: tuple[BounceCount, ...]


@dataclass(frozen=True)
class MessageStream:
    stream_id: str  #: "outbound", "inbound", ...
    server_id: int
    name: str
    stream_type: str  #: Transactional, Inbound, Broadcasts
    created_at: datetime | None
    unsubscribe_handling: str  #: None, Postmark, Custom
    archived_at: datetime | None = None


class PostmarkServerApi(Protocol):
    """Calls made with one server's token (sending, webhooks, messages, bounces, suppressions).

    Every failed call raises ``tenantmail.adapters.postmark.errors.PostmarkError`` (or a subclass)
    carrying ``http_status``, ``error_code``, ``message`` and ``error_class``.
    """

    async def send_email(self, email: OutboundEmail) -> SendOutcome: ...
    async def send_batch(self, emails: Sequence[OutboundEmail]) -> list[SendOutcome]: ...
    async def search_outbound(self, metadata: Mapping[str, str], count: int = 50) -> list[OutboundMessageSummary]: ...

    async def create_webhook(
        self, *, url: str, username: str, password: str, triggers: frozenset[str],
        message_stream: str = "outbound", headers: Mapping[str, str] | None = None,
    ) -> PostmarkWebhook: ...
    async def edit_webhook(self, webhook_id: int, *, url: str, username: str, password: str) -> PostmarkWebhook: ...
    async def get_webhook(self, webhook_id: int) -> PostmarkWebhook: ...
    async def list_webhooks(self, message_stream: str | None = None) -> list[PostmarkWebhook]: ...
    async def delete_webhook(self, webhook_id: int) -> None: ...

    async def create_suppressions(self, stream: str, emails: Sequence[str]) -> None: ...
    async def delete_suppressions(self, stream: str, emails: Sequence[str]) -> None: ...
    async def dump_suppressions(self, stream: str) -> list[PostmarkSuppression]: ...

    async def get_message_details(self, message_id: str) -> OutboundMessageDetails: ...
    async def get_bounce(self, bounce_id: int) -> PostmarkBounce: ...
    async def list_bounces(
        self, email_filter: str | None = None, message_stream: str = "outbound", tag: str | None = None,
    ) -> list[PostmarkBounce]: ...  #: every page
    async def activate_bounce(self, bounce_id: int) -> PostmarkBounce: ...
    async def delivery_stats(self) -> DeliveryStats: ...
    async def list_message_streams(self, stream_type: str = "All") -> list[MessageStream]: ...


class PostmarkAccountApi(Protocol):
    """Calls made with the partition's account token (servers, sender signatures, domains)."""

    async def create_server(self, name: str, *, delivery_type: str) -> PostmarkServer: ...
    async def get_server(self, server_id: int) -> PostmarkServer: ...
    async def list_servers(self, name: str | None = None) -> list[PostmarkServer]: ...  #: every page
    async def delete_server(self, server_id: int) -> None: ...

    async def create_signature(
        self, *, from_email: str, name: str, reply_to: str | None, return_path_domain: str
    ) -> PostmarkSignature: ...
    async def get_signature(self, signature_id: int) -> PostmarkSignature: ...
    async def list_signatures(self) -> list[PostmarkSignature]: ...  #: every page (brief fields)
    async def delete_signature(self, signature_id: int) -> None: ...

    async def edit_server(self, server_id: int, changes: PostmarkServerEdit) -> PostmarkServerDetails: ...

    async def edit_signature(
        self, signature_id: int, *, name: str, reply_to: str | None = None,
        return_path_domain: str | None = None,
    ) -> PostmarkSignature: ...
    async def resend_signature_confirmation(self, signature_id: int) -> None: ...

    async def create_domain(self, name: str, *, return_path_domain: str) -> PostmarkDomain: ...
    async def get_domain(self, domain_id: int) -> PostmarkDomain: ...
    async def list_domains(self) -> list[PostmarkDomain]: ...  #: every page (brief fields)
    async def edit_domain(self, domain_id: int, *, return_path_domain: str) -> PostmarkDomain: ...
    async def delete_domain(self, domain_id: int) -> None: ...
    async def verify_domain_dkim(self, domain_id: int) -> PostmarkDomain: ...
    async def verify_domain_return_path(self, domain_id: int) -> PostmarkDomain: ...
    async def rotate_domain_dkim(self, domain_id: int) -> PostmarkDomain: ...  #: DKIM fields only


class PostmarkGateway(Protocol):
    """The Postmark entry point services receive: the account API and per-server APIs."""

    @property
    def account(self) -> PostmarkAccountApi: ...
    def server(self, server_token: str) -> PostmarkServerApi: ...
