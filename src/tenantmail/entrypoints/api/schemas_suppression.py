"""Shapes of the suppression routes (SPEC §2: ``recipient``, ``reason``, ``origin``, ``createdAt``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tenantmail.domain.suppression import SuppressionEntry, SuppressionReason
from tenantmail.entrypoints.api.schemas import iso

MAX_ADDRESS = 320


class SuppressionOut(BaseModel):
    recipient: str
    reason: SuppressionReason
    origin: str = Field(description="webhook, send, operator or postmark.")
    createdAt: str

    @classmethod
    def of(cls, entry: SuppressionEntry) -> SuppressionOut:
        return cls(recipient=entry.recipient, reason=entry.reason, origin=entry.origin.value,
                   createdAt=iso(entry.created_at) or "")


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipient: str = Field(description="The address to suppress (stored trimmed and lower-case).")
    reason: SuppressionReason = SuppressionReason.MANUAL

    @field_validator("recipient")
    @classmethod
    def _one_address(cls, value: str) -> str:
        value = value.strip()
        local, at, domain = value.rpartition("@")
        if not at or not local or "." not in domain or len(value) > MAX_ADDRESS or any(c.isspace() for c in value):
            raise ValueError("must be a single e-mail address")
        return value
