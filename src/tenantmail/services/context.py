"""What every use case receives: the ports, the settings and a clock (built by ``bootstrap``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tenantmail.services.configuration_memo import ConfigurationMemo
from tenantmail.services.ports import (
    ConfigurationScans,
    DnsGateway,
    DriftReportStore,
    EventStore,
    Housekeeping,
    JobWakeup,
    PostmarkGateway,
    SendStore,
    Telemetry,
    TokenCipher,
    UnitOfWork,
    WebhookSecrets,
    WorkQueue,
)
from tenantmail.services.ports.notifications import NotificationQueue, NotificationSender, NotificationViews
from tenantmail.settings import Settings


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ServiceContext:
    settings: Settings
    uow: Callable[[str], UnitOfWork]  #: tenant id → a fresh unit of work
    send_store: SendStore  #: the send path's storage
    event_store: EventStore  #: the webhook events' storage
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
    wakeup: JobWakeup | None = None  #: new jobs wake dispatch (SPEC §16); None: polling only
    #: notifications to calling services (None: not wired, e.g. in the service unit tests)
    notification_queue: NotificationQueue | None = None
    notification_sender: NotificationSender | None = None
    notification_views: NotificationViews | None = None
