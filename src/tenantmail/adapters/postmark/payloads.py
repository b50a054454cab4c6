"""Postmark's PascalCase JSON ↔ the port dataclasses, as pure functions (postmark-api.md).

Nothing here does I/O. A body missing a field we rely on raises ``KeyError``/``TypeError``/
``ValueError``; the client turns that into ``PostmarkUnexpectedResponseError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from tenantmail.services.ports import (
    BounceCount,
    DeliveryStats,
    MessageAddress,
    MessageStream,
    MessageEvent,
    OutboundEmail,
    OutboundMessageDetails,
    OutboundMessageSummary,
    PostmarkBounce,
    PostmarkDomain,
    PostmarkServer,
    PostmarkServerDetails,
    PostmarkServerEdit,
    PostmarkSignature,
    PostmarkSuppression,
    PostmarkWebhook,
    SendOutcome,
)

Json = dict[str, Any]

#: Every trigger a webhook object carries; Postmark always answers with all six (§6).
WEBHOOK_TRIGGERS = ("Open", "Click", "Delivery", "Bounce", "SpamComplaint", "SubscriptionChange")

# Postmark writes up to 7 fractional digits (.NET ticks) and "Z" or "+hh:mm"; Python 3.11's
# fromisoformat accepts at most 6 digits, so the fraction is parsed by hand.
_TIMESTAMP = re.compile(
    r"^(?P<base>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})"
    r"(?:\.(?P<fraction>\d{1,7}))?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?$"
)


def parse_timestamp(text: str | None) -> datetime | None:
    """Postmark's ISO 8601 timestamp as an aware datetime (UTC when it carries no offset)."""
    if not text:
        return None
    match = _TIMESTAMP.match(text.strip())
    if match is None:
        raise ValueError(f"not a Postmark timestamp: {text!r}")
    base = datetime.fromisoformat(match["base"])
    microseconds = round(int((match["fraction"] or "0").ljust(7, "0")) / 10)
    return base.replace(tzinfo=_zone(match["zone"])) + timedelta(microseconds=microseconds)


def _zone(text: str | None) -> timezone:
    if text in (None, "Z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


# --- servers, sender signatures and domains (account token) ---------------------------------


def server_from_json(body: Json) -> PostmarkServer:
    tokens = body.get("ApiTokens") or [""]
    return PostmarkServer(
        server_id=int(body["ID"]),
        name=body["Name"],
        delivery_type=body.get("DeliveryType", "Live"),
        api_token=tokens[0],
    )


#: PostmarkServerEdit attribute → the server object's field it writes.
_SERVER_EDIT_FIELDS = {
    "name": "Name",
    "color": "Color",
    "smtp_api_activated": "SmtpApiActivated",
    "raw_email_enabled": "RawEmailEnabled",
    "track_opens": "TrackOpens",
    "track_links": "TrackLinks",
    "inbound_spam_threshold": "InboundSpamThreshold",
    "include_bounce_content_in_hook": "IncludeBounceContentInHook",
    "enable_smtp_api_error_hooks": "EnableSmtpApiErrorHooks",
}
_LEGACY_HOOKS = ("Inbound", "Bounce", "Open", "Delivery", "Click")


def server_edit_request(changes: PostmarkServerEdit) -> Json:
    """``PUT /servers/{id}`` body: only the fields being changed (Postmark answers 609 to none)."""
    return {
        wire: getattr(changes, attribute)
        for attribute, wire in _SERVER_EDIT_FIELDS.items()
        if getattr(changes, attribute) is not None
    }


def server_details_from_json(body: Json) -> PostmarkServerDetails:
    return PostmarkServerDetails(
        server=server_from_json(body),
        color=body["Color"],
        smtp_api_activated=bool(body["SmtpApiActivated"]),
        raw_email_enabled=bool(body["RawEmailEnabled"]),
        server_link=body["ServerLink"],
        inbound_address=body["InboundAddress"],
        inbound_hash=body["InboundHash"],
        inbound_domain=body.get("InboundDomain") or None,
        inbound_spam_threshold=int(body["InboundSpamThreshold"]),
        track_opens=bool(body["TrackOpens"]),
        track_links=body["TrackLinks"],
        include_bounce_content_in_hook=bool(body["IncludeBounceContentInHook"]),
        enable_smtp_api_error_hooks=bool(body["EnableSmtpApiErrorHooks"]),
        post_first_open_only=bool(body["PostFirstOpenOnly"]),
        hook_urls={hook: body.get(f"{hook}HookUrl") or None for hook in _LEGACY_HOOKS},
    )


def signature_request(
    *, from_email: str, name: str, reply_to: str | None, return_path_domain: str
) -> Json:
    """``POST /senders``. Requests say ``FromEmail``/``ReplyToEmail``, answers ``EmailAddress``."""
    body: Json = {"FromEmail": from_email, "Name": name, "ReturnPathDomain": return_path_domain}
    if reply_to:
        body["ReplyToEmail"] = reply_to
    return body


def signature_edit_request(
    *, name: str, reply_to: str | None, return_path_domain: str | None
) -> Json:
    """``PUT /senders/{id}``: ``Name`` is required; the other fields only when changing them."""
    body: Json = {"Name": name}
    if reply_to is not None:
        body["ReplyToEmail"] = reply_to
    if return_path_domain is not None:
        body["ReturnPathDomain"] = return_path_domain
    return body


def domain_request(name: str, return_path_domain: str) -> Json:
    """``POST /domains``."""
    return {"Name": name, "ReturnPathDomain": return_path_domain}


def signature_from_json(body: Json) -> PostmarkSignature:
    """A full signature, or a list's brief item (which lacks DKIM/Return-Path fields: empty/False).

    While the DKIM key is pending, ``DKIMHost``/``DKIMTextValue`` are empty and the values to
    publish are the ``DKIMPending*`` ones (§3.2).
    """
    return PostmarkSignature(
        signature_id=int(body["ID"]),
        email_address=body["EmailAddress"],
        name=body["Name"],
        confirmed=bool(body.get("Confirmed", False)),
        dkim_verified=bool(body.get("DKIMVerified", False)),
        return_path_verified=bool(body.get("ReturnPathDomainVerified", False)),
        dkim_host=body.get("DKIMHost") or body.get("DKIMPendingHost") or "",
        dkim_value=body.get("DKIMTextValue") or body.get("DKIMPendingTextValue") or "",
        return_path_domain=body.get("ReturnPathDomain") or "",
        return_path_cname_value=body.get("ReturnPathDomainCNAMEValue") or "",
    )


def domain_from_json(body: Json) -> PostmarkDomain:
    """A full domain, a list's brief item or a ``rotatedkim`` answer (the fields it lacks are then
    empty/False, as for signatures)."""
    return PostmarkDomain(
        domain_id=int(body["ID"]),
        name=body["Name"],
        dkim_verified=bool(body.get("DKIMVerified", False)),
        weak_dkim=bool(body.get("WeakDKIM", False)),
        dkim_host=body.get("DKIMHost") or "",
        dkim_text_value=body.get("DKIMTextValue") or "",
        dkim_pending_host=body.get("DKIMPendingHost") or "",
        dkim_pending_text_value=body.get("DKIMPendingTextValue") or "",
        dkim_revoked_host=body.get("DKIMRevokedHost") or "",
        dkim_revoked_text_value=body.get("DKIMRevokedTextValue") or "",
        safe_to_remove_revoked_key=bool(body.get("SafeToRemoveRevokedKeyFromDNS", False)),
        dkim_update_status=body.get("DKIMUpdateStatus") or "",
        return_path_domain=body.get("ReturnPathDomain") or "",
        return_path_verified=bool(body.get("ReturnPathDomainVerified", False)),
        return_path_cname_value=body.get("ReturnPathDomainCNAMEValue") or "",
        spf_verified=bool(body.get("SPFVerified", False)),
        spf_host=body.get("SPFHost") or "",
        spf_text_value=body.get("SPFTextValue") or "",
    )


# --- webhooks ---------------------------------------------------------------------------------


def webhook_request(
    *,
    url: str,
    username: str,
    password: str,
    triggers: frozenset[str] | None = None,
    message_stream: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Json:
    """``POST``/``PUT /webhooks`` body; ``None`` fields are omitted (PUT is a partial update)."""
    body: Json = {"Url": url, "HttpAuth": {"Username": username, "Password": password}}
    if message_stream is not None:
        body["MessageStream"] = message_stream
    if triggers is not None:
        unknown = triggers - set(WEBHOOK_TRIGGERS)
        if unknown:
            raise ValueError(f"unknown webhook triggers: {sorted(unknown)}")
        body["Triggers"] = {name: {"Enabled": name in triggers} for name in WEBHOOK_TRIGGERS}
    if headers:
        body["HttpHeaders"] = [{"Name": name, "Value": value} for name, value in headers.items()]
    return body


def webhook_from_json(body: Json) -> PostmarkWebhook:
    auth = body.get("HttpAuth") or {}
    triggers = body.get("Triggers") or {}
    return PostmarkWebhook(
        webhook_id=int(body["ID"]),
        url=body["Url"],
        message_stream=body.get("MessageStream", "outbound"),
        username=auth.get("Username") or None,
        triggers=frozenset(name for name, trigger in triggers.items() if trigger.get("Enabled")),
    )


# --- sending ----------------------------------------------------------------------------------


def email_request(email: OutboundEmail) -> Json:
    body: Json = {
        "From": email.from_address,
        "To": email.to,
        "Subject": email.subject,
        "MessageStream": email.message_stream,
    }
    optional = {"HtmlBody": email.html_body, "TextBody": email.text_body, "ReplyTo": email.reply_to,
                "Tag": email.tag}
    body.update({key: value for key, value in optional.items() if value is not None})
    if email.metadata:
        body["Metadata"] = dict(email.metadata)
    if email.attachments:
        body["Attachments"] = [
            {"Name": a.filename, "Content": a.content_base64, "ContentType": a.content_type}
            for a in email.attachments
        ]
    return body


def send_outcome_from_json(body: Json, *, to: str) -> SendOutcome:
    """One send answer. ``to`` is what we asked for: failed batch items usually carry no ``To``.

    A missing ``ErrorCode`` counts as accepted: Postmark may omit it on "Message accepted, but
    delivery may be delayed." (§4.3).
    """
    return SendOutcome(
        to=body.get("To") or to,
        error_code=int(body.get("ErrorCode") or 0),
        message=body.get("Message") or "",
        message_id=body.get("MessageID") or None,
        submitted_at=parse_timestamp(body.get("SubmittedAt")),
    )


def batch_outcomes_from_json(
    items: Sequence[Json], emails: Sequence[OutboundEmail]
) -> list[SendOutcome]:
    """Batch answers are in request order, one per message (§4.3)."""
    if len(items) != len(emails):
        raise ValueError(f"batch answered {len(items)} results for {len(emails)} messages")
    return [
        send_outcome_from_json(item, to=email.to) for item, email in zip(items, emails, strict=True)
    ]


# --- messages and suppressions ----------------------------------------------------------------


def outbound_search_params(metadata: Mapping[str, str], count: int) -> dict[str, str | int]:
    """``GET /messages/outbound`` query: ``metadata_<key>=<value>`` filters (§9)."""
    params: dict[str, str | int] = {"count": count, "offset": 0}
    params.update({f"metadata_{key}": value for key, value in metadata.items()})
    return params


def message_summary_from_json(body: Json) -> OutboundMessageSummary:
    return OutboundMessageSummary(
        message_id=body["MessageID"],
        recipients=tuple(body.get("Recipients") or ()),
        status=body.get("Status", ""),
        metadata=dict(body.get("Metadata") or {}),
        received_at=parse_timestamp(body.get("ReceivedAt")),
    )


def _addresses(items: Iterable[Json] | None) -> tuple[MessageAddress, ...]:
    return tuple(MessageAddress(email=a["Email"], name=a.get("Name") or "") for a in items or ())


def _attachment_name(item: str | Json) -> str:
    """§9 does not give the item shape: a bare name, or an object carrying ``Name``."""
    return item if isinstance(item, str) else item["Name"]


def message_event_from_json(body: Json) -> MessageEvent:
    details = body.get("Details") or {}
    return MessageEvent(
        recipient=body["Recipient"],
        type=body["Type"],
        received_at=parse_timestamp(body.get("ReceivedAt")),
        details={key: str(value) for key, value in details.items()},
    )


def message_details_from_json(body: Json) -> OutboundMessageDetails:
    return OutboundMessageDetails(
        summary=message_summary_from_json(body),
        message_stream=body.get("MessageStream", "outbound"),
        from_address=body["From"],
        subject=body.get("Subject") or "",
        tag=body.get("Tag") or "",
        to=_addresses(body.get("To")),
        cc=_addresses(body.get("Cc")),
        bcc=_addresses(body.get("Bcc")),
        attachments=tuple(_attachment_name(item) for item in body.get("Attachments") or ()),
        track_opens=bool(body.get("TrackOpens", False)),
        track_links=body.get("TrackLinks") or "None",
        sandboxed=bool(body.get("Sandboxed", False)),
        text_body=body.get("TextBody") or "",
        html_body=body.get("HtmlBody") or "",
        raw_body=body.get("Body") or "",
        events=tuple(message_event_from_json(e) for e in body.get("MessageEvents") or ()),
    )


def suppressions_request(emails: Iterable[str]) -> Json:
    return {"Suppressions": [{"EmailAddress": email} for email in emails]}


def failed_suppression_changes(body: Json) -> list[str]:
    """``"address: reason"`` for every item Postmark answered ``Failed`` (e.g. a spam complaint)."""
    return [
        f"{item.get('EmailAddress')}: {item.get('Message') or 'failed'}"
        for item in body.get("Suppressions") or ()
        if item.get("Status") == "Failed"
    ]


def suppression_from_json(body: Json) -> PostmarkSuppression:
    return PostmarkSuppression(
        email_address=body["EmailAddress"],
        reason=body.get("SuppressionReason", ""),
        origin=body.get("Origin", ""),
        created_at=parse_timestamp(body.get("CreatedAt")),
    )


# --- bounces ----------------------------------------------------------------------------------


def bounce_list_params(
    email_filter: str | None, message_stream: str, tag: str | None = None
) -> dict[str, str]:
    """``GET /bounces`` filters (§8.1); ``count``/``offset`` are added by the pager."""
    params = {"messagestream": message_stream}
    if email_filter:
        params["emailFilter"] = email_filter
    if tag:
        params["tag"] = tag
    return params


def delivery_stats_from_json(body: Json) -> DeliveryStats:
    """``GET /deliverystats``; the ``All`` line has no ``Type`` in Postmark's docs (None here)."""
    bounces = tuple(
        BounceCount(
            name=item["Name"], count=int(item["Count"]),
            type=None if item.get("Name") == "All" else item.get("Type"),
            type_code=None if item.get("Name") == "All" or item.get("TypeCode") is None
            else int(item["TypeCode"]),
        )
        for item in body["Bounces"]
    )
    return DeliveryStats(inactive_mails=int(body["InactiveMails"]), bounces=bounces)


def message_stream_from_json(body: Json) -> MessageStream:
    handling = (body.get("SubscriptionManagementConfiguration") or {}).get("UnsubscribeHandlingType")
    return MessageStream(
        stream_id=body["ID"], server_id=int(body["ServerID"]), name=body["Name"],
        stream_type=body["MessageStreamType"], created_at=parse_timestamp(body.get("CreatedAt")),
        unsubscribe_handling=handling or "None", archived_at=parse_timestamp(body.get("ArchivedAt")),
    )


def bounce_from_json(body: Json) -> PostmarkBounce:
    return PostmarkBounce(
        bounce_id=int(body["ID"]),
        record_type=body.get("RecordType") or "Bounce",
        type=body["Type"],
        type_code=int(body["TypeCode"]),
        name=body.get("Name") or "",
        tag=body.get("Tag") or "",
        message_id=body.get("MessageID") or "",
        server_id=int(body["ServerID"]),
        message_stream=body.get("MessageStream", "outbound"),
        description=body.get("Description") or "",
        details=body.get("Details") or "",
        email=body["Email"],
        from_address=body.get("From") or "",
        bounced_at=parse_timestamp(body.get("BouncedAt")),
        dump_available=bool(body.get("DumpAvailable", False)),
        inactive=bool(body["Inactive"]),
        can_activate=bool(body["CanActivate"]),
        subject=body.get("Subject") or "",
        content=body.get("Content") or "",
    )


def activated_bounce_from_json(body: Json) -> PostmarkBounce:
    """``PUT /bounces/{id}/activate`` answers ``{"Message": "OK", "Bounce": {...}}``."""
    return bounce_from_json(body["Bounce"])
