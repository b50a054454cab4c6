"""Notifications to calling services: the outbox as leased work, the HTTP sender, the views.

``adapters/db/notification_queue.py`` implements :class:`NotificationQueue`,
``adapters/notification_sender.py`` :class:`NotificationSender`; the views (the ``data`` of a
notification: the same objects the API answers) are the API's, wired by ``bootstrap``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tenantmail.domain.configuration import EmailConfiguration
from tenantmail.domain.job import EmailJob
from tenantmail.domain.notification import DeliveryState, NotificationType
from tenantmail.domain.suppression import SuppressionEntry


@dataclass(frozen=True)
class ClaimedDelivery:
    seq: int
    message_id: str  #: the webhook-id
    tenant_id: str
    endpoint_e_id: str
    type: NotificationType
    subject_id: str
    occurred_at: datetime
    body: str | None  #: None until the first attempt renders it
    attempts: int
    created_at: datetime  #: the retry window starts here


@dataclass(frozen=True)
class AttemptRecord:
    state: DeliveryState
    at: datetime
    next_attempt_at: datetime | None
    status_code: int | None
    latency_ms: int | None
    error: str | None


class NotificationQueue(Protocol):
    owner: str

    async def claim(self, now: datetime, limit: int, *, exclude_endpoints: Sequence[str] = ()) -> list[ClaimedDelivery]: ...
    async def keep_bodies(self, bodies: Sequence[tuple[int, str]]) -> None: ...
    async def record_attempts(self, attempts: Sequence[tuple[int, AttemptRecord]]) -> None: ...


@dataclass(frozen=True)
class ReceiverAnswer:
    status_code: int | None  #: None: no answer (timeout, refused, reset)
    latency_ms: int
    error: str | None = None  #: why there was no answer, or a short excerpt of a non-2xx body


class NotificationSender(Protocol):
    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> ReceiverAnswer: ...


class NotificationViews(Protocol):
    """A notification's ``data``: what ``GET`` of the subject answers as its payload."""

    def job(self, job: EmailJob) -> dict[str, Any]: ...
    def suppression(self, entry: SuppressionEntry) -> dict[str, Any]: ...
    def configuration(self, config: EmailConfiguration) -> dict[str, Any]: ...
