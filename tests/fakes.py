"""In-memory fakes of the ports services run on ("Architecture Patterns with Python", ch. 3 & 5).

:class:`InMemoryStorage` keeps what the two hot paths store in plain dicts and implements
:class:`~tenantmail.services.ports.SendStore` and :class:`~tenantmail.services.ports.EventStore`
with the domain's own objects (``Job.move``, ``SuppressionEntry.remove``…). The contract suite
(``tests/contract/test_hot_path_stores.py``) holds it to the same rules as the database stores, so a
service unit test over it (``tests/unit/services/``) tests the service, not a toy.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tenantmail.domain.configuration import EmailConfiguration
from tenantmail.domain.delivery_event import DeliveryEvent, EventEffects
from tenantmail.domain.idempotency import IdempotencyRecord
from tenantmail.domain.job import EmailJob
from tenantmail.domain.suppression import SuppressionEntry
from tenantmail.services.context import ServiceContext
from tenantmail.services.ports import EventApplied, QueueItem, SendFacts
from tenantmail.settings import Settings


@dataclass
class InMemoryStorage:
    """Both hot-path stores over one set of dicts (so a webhook sees the jobs a send queued)."""

    configurations: dict[tuple[str, str], EmailConfiguration] = field(default_factory=dict)
    jobs: dict[tuple[str, str], EmailJob] = field(default_factory=dict)
    records: dict[tuple[str, str, str], IdempotencyRecord] = field(default_factory=dict)
    suppressions: list[SuppressionEntry] = field(default_factory=list)
    events: dict[str, tuple[str, DeliveryEvent, str | None]] = field(default_factory=dict)  #: dedup key → (tenant, event, job)
    unavailable: Exception | None = None  #: raised by every call while set (a database that is down)
    calls: Counter[str] = field(default_factory=Counter)  #: port method → times called

    # --- seeding and reading back (what a test does around a service call) ---
    def add_configuration(self, config: EmailConfiguration) -> None:
        self.configurations[(config.tenant_id, config.e_id)] = copy.deepcopy(config)

    def add_job(self, job: EmailJob) -> None:
        self.jobs[(job.tenant_id, job.e_id)] = copy.deepcopy(job)

    def live_suppression(self, tenant_id: str, recipient: str) -> SuppressionEntry | None:
        return next((s for s in self.suppressions
                     if s.tenant_id == tenant_id and s.recipient == recipient and s.is_live), None)

    # --- SendStore ---
    async def read_gates(
        self, tenant_id: str, namespace: str, key: str, configuration_e_id: str, recipient: str,
    ) -> SendFacts:
        self._check("read_gates")
        record = self.records.get((tenant_id, namespace, key))
        job = self.jobs.get((tenant_id, record.resource_e_id or "")) if record else None
        live = self.live_suppression(tenant_id, recipient)
        config = self.configurations.get((tenant_id, configuration_e_id))
        return SendFacts(copy.deepcopy(record), job.status if job else None, copy.deepcopy(config),
                         live.reason.value if live else None)

    async def queue_job(
        self, job: EmailJob, namespace: str, record: IdempotencyRecord, *, configuration_version: int,
        quota: Any = None,
    ) -> bool:
        self._check("queue_job")
        config = self.configurations.get((job.tenant_id, job.configuration_e_id))
        if config is None or config.version != configuration_version:
            return False
        if self.live_suppression(job.tenant_id, job.recipient) is not None:
            return False
        held = self.records.get((job.tenant_id, namespace, record.key))
        if held is not None and not held.expired(record.created_at):
            return False
        self.records[(job.tenant_id, namespace, record.key)] = record
        self.add_job(job)
        return True

    async def queue_jobs(self, namespace: str, items: Sequence[QueueItem], *, quota: Any = None) -> list[Any]:
        self._check("queue_jobs")
        return [await self.queue_job(i.job, namespace, i.record, configuration_version=i.configuration_version)
                for i in items]

    # --- EventStore ---
    async def store_and_apply(
        self, tenant_id: str, configuration_e_id: str, event: DeliveryEvent, effects: EventEffects, *,
        received_at: datetime,
    ) -> EventApplied:
        self._check("store_and_apply")
        config = self.configurations.get((tenant_id, configuration_e_id))
        server_id = config.server_id if config else None
        if not event.from_server(server_id):
            return EventApplied(server_id, False, None, None, None)
        job = self._job_of(tenant_id, event)
        previous = job.status if job else None
        dedup = event.dedup_key(tenant_id, configuration_e_id)
        if dedup in self.events:
            return EventApplied(server_id, False, job.e_id if job else None, previous, previous)
        self.events[dedup] = (tenant_id, event, job.e_id if job else None)
        if job is not None and effects.projection is not None and effects.projection[job.status] is not job.status:
            job.move(effects.projection[job.status], received_at)
        if job is not None and job.message_id is None and event.message_id is not None:
            job.message_id = event.message_id  # Postmark accepted it, whatever dispatch has recorded
            job.updated_at = received_at
        self._apply_suppression(tenant_id, event, effects, received_at)
        return EventApplied(server_id, True, job.e_id if job else None, previous, job.status if job else None)

    def stored_events(self, tenant_id: str) -> Sequence[DeliveryEvent]:
        return [event for tenant, event, _ in self.events.values() if tenant == tenant_id]

    def _job_of(self, tenant_id: str, event: DeliveryEvent) -> EmailJob | None:
        if event.job_e_id is not None and (tenant_id, event.job_e_id) in self.jobs:
            return self.jobs[(tenant_id, event.job_e_id)]
        return next((j for (tenant, _), j in self.jobs.items()
                     if tenant == tenant_id and event.message_id is not None and j.message_id == event.message_id), None)

    def _apply_suppression(self, tenant_id: str, event: DeliveryEvent, effects: EventEffects, now: datetime) -> None:
        live = self.live_suppression(tenant_id, event.recipient or "")
        if effects.suppression is not None and live is None:
            self.suppressions.append(copy.deepcopy(effects.suppression))
        elif effects.lift and live is not None and live.removable:
            live.remove(now)

    def _check(self, method: str) -> None:
        self.calls[method] += 1
        if self.unavailable is not None:
            raise self.unavailable


class RecordingTelemetry:
    """Telemetry that keeps what was emitted: ``(event, labels, fields)``."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, Mapping[str, str], dict[str, Any]]] = []
        self.gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def emit(self, event: str, *, labels: Mapping[str, str] | None = None, level: str = "info",
             sentry: bool = False, fingerprint: Sequence[str] | None = None, **fields: Any) -> None:
        self.emitted.append((event, dict(labels or {}), {"level": level, "sentry": sentry, **fields}))

    def set_gauge(self, name: str, value: float, *, labels: Mapping[str, str] | None = None) -> None:
        self.gauges[(name, tuple(sorted((labels or {}).items())))] = value

    def observe(self, name: str, seconds: float, *, labels: Mapping[str, str] | None = None) -> None:
        self.emitted.append((name, dict(labels or {}), {"seconds": seconds}))

    def names(self) -> list[str]:
        return [event for event, _, _ in self.emitted]


class FixedWebhookSecrets:
    """One password per configuration: ``secret-<eId>``."""

    def current(self, configuration_eid: str) -> str:
        return f"secret-{configuration_eid}"

    def accepted(self, configuration_eid: str) -> list[str]:
        return [self.current(configuration_eid)]

    def verify(self, configuration_eid: str, password: str) -> bool:
        return password == self.current(configuration_eid)


class Unused:
    """A port the service under test must not touch: any use fails the test."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"the service used the {self._name} port ({attribute})")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the service used the {self._name} port")


def service_context(storage: InMemoryStorage, *, clock: Callable[[], datetime],
                    telemetry: RecordingTelemetry | None = None) -> ServiceContext:
    """A ServiceContext whose hot-path stores are ``storage``; the ports the two hot paths never
    use fail the test if touched."""
    return ServiceContext(
        settings=Settings(_env_file=None),  # type: ignore[call-arg]
        uow=Unused("unit of work"), send_store=storage, event_store=storage,
        postmark=Unused("Postmark"), dns=Unused("DNS"), cipher=Unused("cipher"),  # type: ignore[arg-type]
        webhook_secrets=FixedWebhookSecrets(), telemetry=telemetry or RecordingTelemetry(),
        work=Unused("work queue"), scans=Unused("scans"), drift_reports=Unused("drift reports"),  # type: ignore[arg-type]
        housekeeping=Unused("housekeeping"), clock=clock,  # type: ignore[arg-type]
    )
