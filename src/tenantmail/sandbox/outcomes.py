"""What happens to a message after Postmark accepted it, decided per recipient by rules.

Default: delivered. A :class:`RecipientRule` (exact address or ``fnmatch`` pattern, first match
wins) makes a recipient hard-bounce (with a chosen bounce type), soft-bounce, complain, open or
click. Postmark's own test addresses ``<BounceType>@bounce-testing.postmarkapp.com`` bounce with that
type, as on the real service (postmark-api.md §7).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

BOUNCE_TESTING_DOMAIN = "bounce-testing.postmarkapp.com"


class Outcome(StrEnum):
    DELIVERY = "delivery"  #: Delivery event only
    HARD_BOUNCE = "hard_bounce"  #: Bounce (type chosen, default HardBounce); suppresses if Inactive
    SOFT_BOUNCE = "soft_bounce"  #: Bounce of type SoftBounce; never suppresses
    SPAM_COMPLAINT = "spam_complaint"  #: Delivery, then SpamComplaint; suppresses
    OPEN = "open"  #: Delivery, then Open (with open tracking on an HTML message)
    CLICK = "click"  #: Delivery, then Click (with link tracking)


@dataclass(frozen=True)
class BounceType:
    name: str  #: the ``Type`` field
    type_code: int
    label: str  #: the ``Name`` field
    description: str
    inactive: bool  #: Postmark deactivates (suppresses) the address

    @property
    def can_activate(self) -> bool:
        return self.name != "SpamComplaint"


def _bt(name: str, code: int, label: str, description: str, inactive: bool = False) -> BounceType:
    return BounceType(name, code, label, description, inactive)


BOUNCE_TYPES: dict[str, BounceType] = {
    b.name: b
    for b in (
        _bt("HardBounce", 1, "Hard bounce", "The server was unable to deliver your message "
            "(ex: unknown user, mailbox not found).", inactive=True),
        _bt("Transient", 2, "Message delayed", "The server could not temporarily deliver your message."),
        _bt("AutoResponder", 64, "Auto responder", "Automatic email responder (ex: out of office)."),
        _bt("DnsError", 256, "DNS error", "A temporary DNS error."),
        _bt("SpamNotification", 512, "Spam notification", "The message was blocked as spam."),
        _bt("Unknown", 2048, "Unknown type", "Unable to classify the bounce."),
        _bt("SoftBounce", 4096, "Soft bounce", "Unable to temporarily deliver this email "
            "(ex: mailbox full)."),
        _bt("BadEmailAddress", 100000, "Invalid email address", "Invalid email address.",
            inactive=True),
        _bt("SpamComplaint", 100001, "Spam complaint", "The subscriber explicitly marked this "
            "message as spam.", inactive=True),
        _bt("ManuallyDeactivated", 100002, "Manually deactivated", "The email was manually "
            "deactivated.", inactive=True),
        _bt("Blocked", 100006, "ISP block", "Blocked by the receiving ISP or firewall."),
        _bt("DMARCPolicy", 100009, "DMARC policy", "Rejected by the recipient's DMARC policy."),
    )
}


@dataclass(frozen=True)
class RecipientRule:
    """``pattern`` is an address or an fnmatch pattern (``*@bounce.test``), case-insensitive."""

    pattern: str
    outcome: Outcome
    bounce_type: str = "HardBounce"

    def __post_init__(self) -> None:
        if self.bounce_type not in BOUNCE_TYPES:
            raise ValueError(f"unknown bounce type {self.bounce_type!r}")

    def matches(self, recipient: str) -> bool:
        return fnmatch.fnmatchcase(recipient.lower(), self.pattern.lower())

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecipientRule:
        return cls(str(data["pattern"]), Outcome(data["outcome"]),
                   str(data.get("bounce_type", "HardBounce")))

    def to_json(self) -> dict[str, str]:
        return {"pattern": self.pattern, "outcome": self.outcome.value,
                "bounce_type": self.bounce_type}


def bounce_type_for(outcome: Outcome, requested: str | None = None) -> BounceType:
    """Soft bounces and complaints have a fixed type; a hard bounce takes the requested one."""
    fixed = {Outcome.SOFT_BOUNCE: "SoftBounce", Outcome.SPAM_COMPLAINT: "SpamComplaint"}
    return BOUNCE_TYPES[fixed.get(outcome) or requested or "HardBounce"]


def outcome_for(recipient: str, rules: list[RecipientRule]) -> tuple[Outcome, BounceType]:
    """The first matching rule decides; then Postmark's bounce-testing addresses; else delivery."""
    for rule in rules:
        if rule.matches(recipient):
            return rule.outcome, bounce_type_for(rule.outcome, rule.bounce_type)
    local, _, domain = recipient.lower().partition("@")
    if domain == BOUNCE_TESTING_DOMAIN:
        for bounce_type in BOUNCE_TYPES.values():
            if bounce_type.name.lower() == local:
                return Outcome.HARD_BOUNCE, bounce_type
    return Outcome.DELIVERY, BOUNCE_TYPES["HardBounce"]
