"""What every use case receives: the ports, the settings and a clock (built by ``bootstrap``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tenantmail.services.configuration_memo import ConfigurationMemo
from tenantmail.services.ports import (
    ConfigurationScans,
    DnsGateway,
    DriftReportStore,
    EventIntake,
    Housekeeping,
    PostmarkGateway,
    SendIntake,
    Telemetry,
    TokenCipher,
    UnitOfWork,
    WebhookSecrets,
)
from tenantmail.settings import Settings

if TYPE_CHECKING:  # the work queue is an adapter; services only call its methods
    from tenantmail.adapters.db.work_queue import WorkQueue


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ServiceContext:
    settings: Settings
    uow: Callable[[str], UnitOfWork]  #: tenant id → a fresh unit of work
    send_intake: Callable[[str], SendIntake]  #: tenant id → the send path's storage for one request
    event_intake: Callable[[str], EventIntake]  #: tenant id → the webhook events' storage
    postmark: PostmarkGateway
    dns: DnsGateway
    cipher: TokenCipher
    webhook_secrets: WebhookSecrets
    telemetry: Telemetry
    work: WorkQueue
    scans: ConfigurationScans  #: cross-tenant pages, for drift scans and key sweeps only
    drift_reports: DriftReportStore
    housekeeping: Housekeeping
    clock: Callable[[], datetime] = field(default=utcnow)
    configuration_memo: ConfigurationMemo = field(default_factory=ConfigurationMemo)
