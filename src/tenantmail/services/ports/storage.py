"""Tenant-scoped storage: the unit of work, and the two hot paths' stores.

The hot paths' stores are one per process (``adapters/db/intake``) and run on SQLite and
PostgreSQL alike; ``tests/fakes.py`` implements them in memory, and
``tests/contract/test_hot_path_stores.py`` holds all three to the same rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from dataclasses import dataclass

from tenantmail.domain.configuration import EmailConfiguration
from tenantmail.domain.delivery_event import DeliveryEvent, EventEffects
from tenantmail.domain.idempotency import IdempotencyRecord
from tenantmail.domain.job import EmailJob, JobStatus


class UnitOfWork(Protocol):
    """One transaction with tenant-scoped repositories (``adapters/db/unit_of_work.py``).

    Repositories: ``configurations``, ``jobs``, ``events``, ``suppressions``, ``idempotency``,
    ``notifications`` (endpoints, the delivery log, and ``record``: the notification outbox),
    ``tenant_quotas``.
    Leaving ``async with`` without ``commit()`` rolls back.
    """

    tenant_id: str
    configurations: Any
    jobs: Any
    events: Any
    suppressions: Any
    idempotency: Any
    notifications: Any
    tenant_quotas: Any

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...


@dataclass(frozen=True)
class SendFacts:
    """Everything the send gates read, in one look: the key's record (with the status of the job
    it queued), the configuration and the recipient's live suppression."""

    record: IdempotencyRecord | None
    record_job_status: JobStatus | None
    configuration: EmailConfiguration | None
    suppressed_for: str | None  #: the live suppression's reason; None when not suppressed


class SendStore(Protocol):
    """The send path's storage (``adapters/db/intake/sends.py``), one per process.

    ``read_gates`` reads what the gates need. ``queue_job`` commits the job with its idempotency
    record, both or neither, and only while the gates still hold as the caller saw them: the
    configuration row still at ``configuration_version``, the recipient not suppressed, no live
    record for the key (an expired one is renewed). Otherwise it writes nothing and returns False,
    and the caller reads the gates again. Raises IdempotencyInFlight when the key's first request
    is still uncommitted past the bounded wait.
    """

    async def read_gates(
        self, tenant_id: str, namespace: str, key: str, configuration_e_id: str, recipient: str,
    ) -> SendFacts: ...
    async def queue_job(
        self, job: EmailJob, namespace: str, record: IdempotencyRecord, *, configuration_version: int,
        quota: Any = None,
    ) -> bool:
        """With ``quota`` (a ``QuotaTake``), the send also takes a token of the tenant's quota — used
        only when it is queued; raises QuotaExceeded (429) when the bucket or the day is empty. The
        quota is decided before the gates' conditions: a caller that did not read the gates reads
        them before answering 429 (the quota is the last gate)."""
        ...
    async def queue_jobs(self, namespace: str, items: Sequence[QueueItem], *, quota: Any = None) -> list[Any]:
        """Each item as ``queue_job`` would queue it, all in one transaction: whether each was (an
        item whose gates no longer hold writes nothing, the others are committed), or its QuotaExceeded."""
        ...


@dataclass(frozen=True)
class QueueItem:
    """One job of a batch for ``SendStore.queue_jobs``."""

    job: EmailJob
    record: IdempotencyRecord
    configuration_version: int


@dataclass(frozen=True)
class EventApplied:
    """What storing one webhook event found and did."""

    server_id: int | None  #: the configuration's Postmark server (None: none yet, or no such configuration)
    stored: bool  #: False: rejected (another server) or a duplicate of a stored event; nothing changed
    job_e_id: str | None  #: the event's job (by ``tm_job``, else MessageID)
    previous_status: JobStatus | None  #: the job's status when the event arrived
    status: JobStatus | None  #: the job's status after it


class EventStore(Protocol):
    """Webhook events' storage (``adapters/db/intake/webhook_events.py``), one per process.

    ``store_and_apply`` does it all atomically, and only if the event's ServerID is the
    configuration's server: store the event unless its dedup key is stored already, and then apply
    ``effects`` — move its job (a job's events apply one at a time, each from the status the last
    one left) and add or lift the recipient's suppression.
    """

    async def store_and_apply(
        self, tenant_id: str, configuration_e_id: str, event: DeliveryEvent, effects: EventEffects, *,
        received_at: datetime,
    ) -> EventApplied: ...
