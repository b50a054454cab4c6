"""Shapes of the suppression routes (SPEC §2: ``recipient``, ``reason``, ``origin``, ``createdAt``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tenantmail.domain.header_text import is_header_text
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


#: what ``SuppressionIn`` accepts: one address, no whitespace inside, the domain with a dot, header text
_NOT_SPACE = r"[^\s\u0000-\u001f\u007f\u2028\u2029]"
_DOMAIN_PART = r"[^@\s\u0000-\u001f\u007f\u2028\u2029]*"
SUPPRESSIBLE_ADDRESS = rf"^\s*{_NOT_SPACE}+@{_DOMAIN_PART}\.{_DOMAIN_PART}\s*$"


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipient: str = Field(min_length=3, max_length=MAX_ADDRESS + 64,
                           description="The address to suppress (stored trimmed and lower-case).",
                           json_schema_extra={"pattern": SUPPRESSIBLE_ADDRESS})
    reason: SuppressionReason = SuppressionReason.MANUAL

    @field_validator("recipient")
    @classmethod
    def _one_address(cls, value: str) -> str:
        value = value.strip()
        local, at, domain = value.rpartition("@")
        if not at or not local or "." not in domain or len(value) > MAX_ADDRESS or any(c.isspace() for c in value):
            raise ValueError("must be a single e-mail address")
        if not is_header_text(value):
            raise ValueError("must not contain control characters (C0 incl. NUL, DEL, U+2028, U+2029)")
        return value
