"""Shapes of the notification-endpoint routes (SPEC §17: ``url``, ``eventTypes``, ``description``,
``enabled``; ``secret`` only in the answers of creation and rotation)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tenantmail.domain.notification import MAX_URL, NotificationDelivery, NotificationEndpoint, NotificationType
from tenantmail.entrypoints.api.schemas import iso
from tenantmail.services.manage_notifications import MAX_DESCRIPTION, EndpointChange

URL_DOC = ("http(s), at most 2,048 characters; in a live partition https to a public address only "
           "(elsewhere http and loopback/private addresses are allowed, for development).")
TYPES_DOC = "Event types to deliver; empty: every type."


class NotificationEndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=MAX_URL, description=URL_DOC, examples=["https://app.example.com/hooks/email"])
    eventTypes: list[NotificationType] = Field(default_factory=list, description=TYPES_DOC)
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    enabled: bool = True


class NotificationEndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=MAX_URL, description=URL_DOC)
    eventTypes: list[NotificationType] | None = Field(default=None, description=TYPES_DOC)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    enabled: bool | None = Field(default=None, description="true re-enables a disabled endpoint "
                                 "(its waiting deliveries go out, in order).")

    def to_change(self) -> EndpointChange:
        return EndpointChange(url=self.url, event_types=self.eventTypes, description=self.description,
                              enabled=self.enabled)


class NotificationEndpointOut(BaseModel):
    eId: str
    url: str
    eventTypes: list[NotificationType]
    description: str
    enabled: bool
    disabledReason: str | None = Field(description="operator, gone (the receiver answered 410) or failing "
                                       "(every attempt failed for 24 h); null when enabled.")
    disabledAt: str | None
    failingSince: str | None = Field(description="Since when every attempt has failed; null when healthy.")
    createdAt: str
    updatedAt: str

    @classmethod
    def of(cls, e: NotificationEndpoint) -> NotificationEndpointOut:
        return cls(eId=e.e_id, url=e.url, eventTypes=list(e.event_types), description=e.description,
                   enabled=e.enabled, disabledReason=e.disabled_reason.value if e.disabled_reason else None,
                   disabledAt=iso(e.disabled_at), failingSince=iso(e.failing_since),
                   createdAt=iso(e.created_at) or "", updatedAt=iso(e.updated_at) or "")


class NotificationEndpointWithSecret(NotificationEndpointOut):
    secret: str = Field(description="whsec_ + base64: shown only here. The HMAC key is the base64 part decoded.")

    @classmethod
    def with_secret(cls, e: NotificationEndpoint, secret: str) -> NotificationEndpointWithSecret:
        return cls(**NotificationEndpointOut.of(e).model_dump(), secret=secret)


class NotificationDeliveryOut(BaseModel):
    eId: str = Field(description="The notification's webhook-id (the same for every attempt).")
    type: NotificationType
    subjectId: str = Field(description="The job's eId, the suppression entry's id or the configuration's eId.")
    occurredAt: str
    state: str = Field(description="pending, delivered or failed (gave up after 24 h; a retry revives it).")
    attempts: int
    nextAttemptAt: str | None
    lastStatusCode: int | None = Field(description="The receiver's last answer; null: none (timeout, refused).")
    lastLatencyMs: int | None
    lastError: str | None
    lastAttemptAt: str | None
    deliveredAt: str | None
    createdAt: str

    @classmethod
    def of(cls, d: NotificationDelivery) -> NotificationDeliveryOut:
        return cls(eId=d.message_id, type=d.type, subjectId=d.subject_id, occurredAt=iso(d.occurred_at) or "",
                   state=d.state.value, attempts=d.attempts, nextAttemptAt=iso(d.next_attempt_at)
                   if d.state.value == "pending" else None, lastStatusCode=d.last_status_code,
                   lastLatencyMs=d.last_latency_ms, lastError=d.last_error, lastAttemptAt=iso(d.last_attempt_at),
                   deliveredAt=iso(d.delivered_at), createdAt=iso(d.created_at) or "")
