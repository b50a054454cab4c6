"""Suppressed recipients: why, from where, and which entries may be lifted (SPEC §7)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tenantmail.domain.errors import SuppressionNotRemovable


class SuppressionReason(StrEnum):
    HARD_BOUNCE = "HardBounce"  #: a permanent bounce
    SPAM_COMPLAINT = "SpamComplaint"  #: the recipient marked a message as spam; never lifted
    MANUAL = "ManualSuppression"  #: an operator, or the recipient via SubscriptionChange
    INACTIVE_RECIPIENT = "InactiveRecipient"  #: Postmark answered 406 at send


#: Reasons an entry is never lifted for: spam complaints stay, as Postmark itself refuses to lift
#: them (postmark-api.md §8.2).
UNREMOVABLE = frozenset({SuppressionReason.SPAM_COMPLAINT})


class SuppressionOrigin(StrEnum):
    WEBHOOK = "webhook"  #: a Bounce / SpamComplaint event
    SEND = "send"  #: a 406 answer at send time
    OPERATOR = "operator"  #: the API or CLI
    POSTMARK = "postmark"  #: a SubscriptionChange event


@dataclass
class SuppressionEntry:
    id: str
    tenant_id: str
    recipient: str
    reason: SuppressionReason
    origin: SuppressionOrigin
    created_at: datetime
    removed_at: datetime | None = None

    @classmethod
    def new(
        cls, *, tenant_id: str, recipient: str, reason: SuppressionReason,
        origin: SuppressionOrigin, now: datetime,
    ) -> SuppressionEntry:
        return cls(str(uuid.uuid4()), tenant_id, recipient, reason, origin, now)

    @property
    def is_live(self) -> bool:
        return self.removed_at is None

    @property
    def removable(self) -> bool:
        return self.reason not in UNREMOVABLE

    def ensure_removable(self) -> None:
        if not self.removable:
            raise SuppressionNotRemovable(
                f"{self.recipient} complained about spam; a spam complaint cannot be lifted"
            )

    def remove(self, now: datetime) -> None:
        self.ensure_removable()
        self.removed_at = now
