"""Shapes of the webhook answer and of stored delivery events."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tenantmail.domain.delivery_event import StoredEvent
from tenantmail.entrypoints.api.schemas import iso


class WebhookAck(BaseModel):
    outcome: str = Field(description="matched, unmatched or duplicate.")
    jobEId: str | None = Field(default=None, description="The job the event was matched to.")
    status: str | None = Field(default=None, description="The job's status after the event.")


class EventOut(BaseModel):
    eId: str
    recordType: str
    messageId: str | None
    recipient: str | None
    occurredAt: str | None = Field(description="The event's own time (DeliveredAt, BouncedAt...).")
    receivedAt: str
    jobEId: str | None
    configurationEId: str
    payload: dict[str, Any] = Field(description="The webhook body as Postmark sent it.")

    @classmethod
    def of(cls, event: StoredEvent) -> EventOut:
        return cls(
            eId=event.e_id, recordType=event.record_type, messageId=event.message_id,
            recipient=event.recipient, occurredAt=iso(event.occurred_at),
            receivedAt=iso(event.received_at) or "", jobEId=event.job_e_id,
            configurationEId=event.configuration_e_id, payload=dict(event.payload),
        )
