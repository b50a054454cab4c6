"""What every Postmark webhook becomes, and what each kind of event means for a job (SPEC §6).

The Postmark adapter turns a payload into a :class:`DeliveryEvent`; from then on the rules only
look at :class:`EventKind`:

    Delivery                → the job is DELIVERED
    HardBounce              → the job is BOUNCED and the recipient suppressed (HardBounce)
    SpamComplaint           → the job is COMPLAINED and the recipient suppressed (SpamComplaint)
    SoftBounce, Open, Click → stored only
    Suppressed              → the recipient suppressed (Postmark's reason, origin postmark)
    Reactivated             → the live entry lifted, unless it is a spam complaint
    Unknown                 → stored only (a RecordType we do not know yet is never rejected)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from tenantmail.domain.errors import InvalidInput
from tenantmail.domain.job import JobStatus, project
from tenantmail.domain.suppression import SuppressionEntry, SuppressionOrigin, SuppressionReason


class MalformedEvent(InvalidInput):
    """A webhook body that is not a JSON object with a ``RecordType``."""

    kind = "MalformedEvent"


class EventKind(StrEnum):
    DELIVERY = "Delivery"
    HARD_BOUNCE = "HardBounce"  #: a permanent bounce type
    SOFT_BOUNCE = "SoftBounce"  #: any other bounce type: transient or informational
    SPAM_COMPLAINT = "SpamComplaint"
    OPEN = "Open"
    CLICK = "Click"
    SUPPRESSED = "Suppressed"  #: SubscriptionChange with SuppressSending true
    REACTIVATED = "Reactivated"  #: SubscriptionChange with SuppressSending false
    UNKNOWN = "Unknown"  #: a RecordType this version does not know


#: The job status each kind of event implies; kinds absent here never move a job.
IMPLIED_STATUS: Mapping[EventKind, JobStatus] = {
    EventKind.DELIVERY: JobStatus.DELIVERED,
    EventKind.HARD_BOUNCE: JobStatus.BOUNCED,
    EventKind.SPAM_COMPLAINT: JobStatus.COMPLAINED,
}


#: Kinds whose documented payload has no ``ServerID`` (postmark-api.md §7: Open, Click). They are
#: authenticated by the webhook's per-configuration credentials alone; every other kind must name
#: the configuration's server.
WITHOUT_SERVER_ID = frozenset({EventKind.OPEN, EventKind.CLICK})


@dataclass(frozen=True)
class SuppressionRequest:
    """The suppression entry an event asks for."""

    reason: SuppressionReason
    origin: SuppressionOrigin


@dataclass(frozen=True)
class DeliveryEvent:
    """One webhook event in our vocabulary; ``payload`` is the raw body, kept as received."""

    record_type: str
    kind: EventKind
    server_id: int | None = None
    message_id: str | None = None
    recipient: str | None = None  #: canonical (trimmed, lower-case)
    occurred_at: datetime | None = None  #: the event's own timestamp (DeliveredAt, BouncedAt...)
    job_e_id: str | None = None  #: ``Metadata.tm_job`` set at send time
    bounce_id: int | None = None
    #: for SUPPRESSED: the reason Postmark gave (HardBounce, SpamComplaint, ManualSuppression)
    suppression_reason: SuppressionReason | None = None
    payload: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def implied_status(self) -> JobStatus | None:
        return IMPLIED_STATUS.get(self.kind)

    @property
    def any_server(self) -> bool:
        """It carries no ServerID and its kind never does: any server of the configuration fits."""
        return self.server_id is None and self.kind in WITHOUT_SERVER_ID

    def from_server(self, server_id: int | None) -> bool:
        """Whether the event may come from the configuration whose Postmark server is ``server_id``
        (None: it has none, so nothing can come from it)."""
        return server_id is not None and (self.server_id == server_id or self.any_server)

    def dedup_key(self, tenant_id: str, configuration_e_id: str) -> str:
        """The event's identity: the same event delivered twice (a Postmark retry) has the same key.

        Built from RecordType, MessageID, recipient, the event's own timestamp and the bounce ID,
        scoped to the receiving tenant and configuration so that a payload replayed through another
        tenant's webhook can never shadow this tenant's event. Hashed (SHA-256 hex, 64 characters)
        to fit the column whatever the lengths of the parts.
        """
        parts = (
            tenant_id, configuration_e_id, self.record_type, self.message_id or "",
            self.recipient or "", self.occurred_at.isoformat() if self.occurred_at else "",
            "" if self.bounce_id is None else str(self.bounce_id),
        )
        return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()

    def requested_suppression(self) -> SuppressionRequest | None:
        """The suppression entry this event asks for, if any."""
        if self.kind is EventKind.HARD_BOUNCE:
            return SuppressionRequest(SuppressionReason.HARD_BOUNCE, SuppressionOrigin.WEBHOOK)
        if self.kind is EventKind.SPAM_COMPLAINT:
            return SuppressionRequest(SuppressionReason.SPAM_COMPLAINT, SuppressionOrigin.WEBHOOK)
        if self.kind is EventKind.SUPPRESSED:
            reason = self.suppression_reason or SuppressionReason.MANUAL
            return SuppressionRequest(reason, SuppressionOrigin.POSTMARK)
        return None

    @property
    def lifts_suppression(self) -> bool:
        return self.kind is EventKind.REACTIVATED


@dataclass(frozen=True)
class StoredEvent:
    """An accepted event as kept in the database, for reading back."""

    e_id: str
    tenant_id: str
    configuration_e_id: str
    job_e_id: str | None
    record_type: str
    message_id: str | None
    recipient: str | None
    occurred_at: datetime | None
    received_at: datetime
    payload: Mapping[str, Any] = field(repr=False)


#: For each status an event can imply, the job's next status from each status it may be in: the
#: whole of ``project`` for events, tabled once.
PROJECTIONS: Mapping[JobStatus, Mapping[JobStatus, JobStatus]] = MappingProxyType({
    implied: MappingProxyType({status: project(status, implied) for status in JobStatus})
    for implied in set(IMPLIED_STATUS.values())
})


@dataclass(frozen=True)
class EventEffects:
    """What keeping a new event does beyond storing it, decided before storage is touched, so the
    store can apply it in the same step that finds the job (whatever status the job is in then)."""

    #: The job's next status for each status it may be in (``project``); None: the job never moves.
    projection: Mapping[JobStatus, JobStatus] | None
    suppression: SuppressionEntry | None  #: added unless the recipient already has a live entry
    lift: bool  #: lift the recipient's live entry, unless its reason is UNREMOVABLE

    @classmethod
    def of(cls, event: DeliveryEvent, tenant_id: str, now: datetime) -> EventEffects:
        implied = event.implied_status
        request = event.requested_suppression() if event.recipient is not None else None
        return cls(
            projection=PROJECTIONS[implied] if implied else None,
            suppression=SuppressionEntry.new(
                tenant_id=tenant_id, recipient=event.recipient, reason=request.reason, origin=request.origin, now=now,
            ) if request is not None and event.recipient is not None else None,
            lift=event.recipient is not None and request is None and event.lifts_suppression,
        )
