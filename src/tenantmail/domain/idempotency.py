"""Idempotency records and what a repeated key is answered (SPEC §5, the first gate).

A record binds ``(tenant, namespace, key)`` to the fingerprint of the request that first used the
key and the answer it got. A later request with the key is answered from the record: the same
answer again when it is the same request, 422 when it is another, 412 when the job it queued has
since become INCONSISTENT (the caller must look before trusting a replay). An expired record no
longer answers; the key may be used afresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tenantmail.domain.errors import IdempotencyMismatch, ReplayOfInconsistent
from tenantmail.domain.job import JobStatus

COMPLETED = "completed"


@dataclass(frozen=True)
class IdempotencyRecord:
    key: str
    request_hash: str
    resource_e_id: str | None
    response_status: int | None
    response_body: Any
    created_at: datetime
    expires_at: datetime
    state: str = COMPLETED

    def expired(self, now: datetime) -> bool:
        return self.expires_at <= now

    def replay(self, fingerprint: str, resource_status: JobStatus | None, *, default_status: int) -> tuple[int, Any]:
        """The stored answer for a repeat of the key: raises IdempotencyMismatch (422) for another
        request, ReplayOfInconsistent (412) when the job it queued is INCONSISTENT."""
        if self.request_hash != fingerprint:
            raise IdempotencyMismatch()
        if resource_status is JobStatus.INCONSISTENT:
            raise ReplayOfInconsistent(self.resource_e_id or "")
        return self.response_status or default_status, self.response_body
