"""What an accepted message goes through per recipient, and the events that produces.

State changes (message events, bounce records, suppressions) happen at once, so the next send to a
hard-bounced address already gets 406; only the webhook posts are asynchronous.
"""

from __future__ import annotations

from tenantmail.sandbox import payloads
from tenantmail.sandbox.clock import now_iso
from tenantmail.sandbox.context import Sandbox
from tenantmail.sandbox.outcomes import BounceType, Outcome, outcome_for
from tenantmail.sandbox.state import Document
from tenantmail.sandbox.suppressions import suppress

_AFTER_DELIVERY = {Outcome.OPEN: ("Opened", payloads.open_),
                   Outcome.CLICK: ("LinkClicked", payloads.click)}
# MessageEvents[].Details keys per event type, taken from the webhook payload (postmark-api.md §9).
_DETAIL_FIELDS = {"Delivered": {"DeliveryMessage": "Details"},
                  "LinkClicked": {"Link": "OriginalLink", "ClickLocation": "ClickLocation"}}
_SANDBOX_DESTINATION = {"DestinationServer": "sandbox.invalid", "DestinationIP": "127.0.0.1"}


def tracked(message: Document, outcome: Outcome) -> bool:
    """Postmark reports opens only with open tracking on an HTML message, clicks only with link
    tracking on (per message, or the server's default copied onto it when it was accepted)."""
    if outcome is Outcome.OPEN:
        return bool(message["TrackOpens"]) and bool(message.get("HtmlBody"))
    if outcome is Outcome.CLICK:
        return message["TrackLinks"] not in ("", "None")
    return True


def process_recipient(sandbox: Sandbox, message: Document, recipient: str) -> None:
    outcome, bounce_type = outcome_for(recipient, sandbox.config.recipient_rules)
    if not tracked(message, outcome):  # an untracked open or click is just a delivery
        outcome = Outcome.DELIVERY
    apply_outcome(sandbox, message, recipient, outcome, bounce_type)


def apply_outcome(
    sandbox: Sandbox, message: Document, recipient: str, outcome: Outcome, bounce_type: BounceType
) -> None:
    if outcome in (Outcome.HARD_BOUNCE, Outcome.SOFT_BOUNCE):
        _bounce(sandbox, message, recipient, bounce_type)
        return
    _event(sandbox, message, recipient, "Delivered", payloads.delivery(message, recipient))
    if outcome is Outcome.SPAM_COMPLAINT:
        _bounce(sandbox, message, recipient, bounce_type)
    elif outcome in _AFTER_DELIVERY:
        event_type, build = _AFTER_DELIVERY[outcome]
        _event(sandbox, message, recipient, event_type, build(message, recipient))


def _event_details(event_type: str, payload: dict[str, object]) -> dict[str, str]:
    """What the message details' event carries: a delivery's SMTP answer and destination, a
    click's link, a bounce's summary and id (payload fields renamed as §9 lists them)."""
    if event_type == "Bounced":
        return {"Summary": str(payload["Description"]), "BounceID": str(payload["ID"])}
    fields = _DETAIL_FIELDS.get(event_type, {})
    details = {key: str(payload[source]) for key, source in fields.items()}
    return {**details, **_SANDBOX_DESTINATION} if event_type == "Delivered" else details


def _event(sandbox: Sandbox, message: Document, recipient: str, event_type: str,
           payload: dict[str, object]) -> None:
    message["MessageEvents"].append({"Recipient": recipient, "Type": event_type,
                                     "ReceivedAt": now_iso(),
                                     "Details": _event_details(event_type, payload)})
    sandbox.state.put("message", message["MessageID"], message, scope=message["ServerID"])
    sandbox.dispatcher.publish(message["ServerID"], payload)


def _bounce(sandbox: Sandbox, message: Document, recipient: str, bounce_type: BounceType) -> None:
    """Record the bounce (or complaint), post it, and suppress the address if Postmark would."""
    record = new_bounce_record(sandbox, message, recipient, bounce_type)
    _event(sandbox, message, recipient, "Bounced", payloads.bounce(record, message))
    if bounce_type.inactive:
        reason = "SpamComplaint" if bounce_type.name == "SpamComplaint" else "HardBounce"
        suppress(sandbox, message["ServerID"], message["MessageStream"], recipient,
                 reason=reason, origin="Recipient", message=message)


def new_bounce_record(sandbox: Sandbox, message: Document, recipient: str,
                      bounce_type: BounceType) -> Document:
    bounce_id = sandbox.state.next_id("bounce")
    complaint = bounce_type.name == "SpamComplaint"
    record = {
        "RecordType": "SpamComplaint" if complaint else "Bounce", "ID": bounce_id,
        "Type": bounce_type.name, "TypeCode": bounce_type.type_code, "Name": bounce_type.label,
        "Tag": message["Tag"], "MessageID": message["MessageID"], "ServerID": message["ServerID"],
        "MessageStream": message["MessageStream"], "Description": bounce_type.description,
        "Details": f"sandbox: simulated {bounce_type.name}", "Email": recipient.lower(),
        "From": message["From"], "BouncedAt": now_iso(), "DumpAvailable": False,
        "Inactive": bounce_type.inactive, "CanActivate": bounce_type.can_activate,
        "Subject": message["Subject"], "Content": "",
    }
    return sandbox.state.put("bounce", bounce_id, record, scope=message["ServerID"])
