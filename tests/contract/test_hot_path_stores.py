"""The contract of the two hot-path ports, run against every implementation: the database stores on
SQLite and on PostgreSQL (``adapters/db/intake``) and the in-memory fake the service unit tests use
(``tests/fakes.py``). Each rule of the send gates and of the webhook is one test here, so the three
cannot drift apart: gates in SPEC order are decided by the service, but what the stores must hold
to — the conditions under which a job is queued, expired-key renewal, the event applied once to the
status its job holds, a status's first time kept, suppressions added once and spam complaints
never lifted — is checked on each.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest

from tenantmail.adapters.db.engine import create_engine
from tenantmail.adapters.db.intake import open_intake
from tenantmail.adapters.db.unit_of_work import UnitOfWork
from tenantmail.domain.configuration import Administrative, EmailConfiguration, Operational, Signature
from tenantmail.domain.delivery_event import DeliveryEvent, EventEffects, EventKind
from tenantmail.domain.idempotency import IdempotencyRecord
from tenantmail.domain.job import EmailJob, JobStatus
from tenantmail.domain.job_search import JobSearch
from tenantmail.domain.suppression import SuppressionEntry, SuppressionOrigin, SuppressionReason
from tenantmail.services.ports import EventStore, SendStore
from tests.conftest import _backend_params, emptied
from tests.fakes import InMemoryStorage

NOW = datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC)
TENANT, OTHER_TENANT = "tenant-a", "tenant-b"
SERVER = 4711
NAMESPACE = "job"


class Harness(Protocol):
    sends: SendStore
    events: EventStore

    async def seed_configuration(self, config: EmailConfiguration) -> None: ...
    async def seed_job(self, job: EmailJob) -> None: ...
    async def seed_suppression(self, entry: SuppressionEntry) -> None: ...
    async def job(self, tenant_id: str, e_id: str) -> EmailJob | None: ...
    async def jobs_with_key(self, tenant_id: str, key: str) -> int: ...
    async def live_suppression(self, tenant_id: str, recipient: str) -> SuppressionEntry | None: ...
    async def event_count(self, tenant_id: str) -> int: ...


class MemoryHarness:
    def __init__(self) -> None:
        self.storage = InMemoryStorage()
        self.sends = self.events = self.storage

    async def seed_configuration(self, config: EmailConfiguration) -> None:
        config.version = 1
        self.storage.add_configuration(config)

    async def seed_job(self, job: EmailJob) -> None:
        self.storage.add_job(job)

    async def seed_suppression(self, entry: SuppressionEntry) -> None:
        self.storage.suppressions.append(entry)

    async def job(self, tenant_id: str, e_id: str) -> EmailJob | None:
        return self.storage.jobs.get((tenant_id, e_id))

    async def jobs_with_key(self, tenant_id: str, key: str) -> int:
        return sum(1 for (t, _), j in self.storage.jobs.items() if t == tenant_id and j.idempotency_key == key)

    async def live_suppression(self, tenant_id: str, recipient: str) -> SuppressionEntry | None:
        return self.storage.live_suppression(tenant_id, recipient)

    async def event_count(self, tenant_id: str) -> int:
        return len(self.storage.stored_events(tenant_id))


class DatabaseHarness:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.intake = open_intake(self.engine, url)
        self.sends, self.events = self.intake.sends, self.intake.events

    async def seed_configuration(self, config: EmailConfiguration) -> None:
        async with UnitOfWork(self.engine, config.tenant_id) as uow:
            await uow.configurations.add(config, author="test", cause="seed")
            await uow.commit()

    async def seed_job(self, job: EmailJob) -> None:
        async with UnitOfWork(self.engine, job.tenant_id) as uow:
            await uow.jobs.add(job)
            await uow.commit()

    async def seed_suppression(self, entry: SuppressionEntry) -> None:
        async with UnitOfWork(self.engine, entry.tenant_id) as uow:
            await uow.suppressions.add_if_absent(entry)
            await uow.commit()

    async def job(self, tenant_id: str, e_id: str) -> EmailJob | None:
        async with UnitOfWork(self.engine, tenant_id) as uow:
            return await uow.jobs.find(e_id)

    async def jobs_with_key(self, tenant_id: str, key: str) -> int:
        async with UnitOfWork(self.engine, tenant_id) as uow:
            found, _ = await uow.jobs.list(JobSearch(), limit=500, offset=0)
        return sum(1 for j in found if j.idempotency_key == key)

    async def live_suppression(self, tenant_id: str, recipient: str) -> SuppressionEntry | None:
        async with UnitOfWork(self.engine, tenant_id) as uow:
            return await uow.suppressions.live(recipient)

    async def event_count(self, tenant_id: str) -> int:
        async with UnitOfWork(self.engine, tenant_id) as uow:
            return (await uow.events.list(limit=1))[1]

    async def close(self) -> None:
        await self.intake.close()
        await self.engine.dispose()


@pytest.fixture(params=[pytest.param("memory", id="memory"), *_backend_params()])
def store_url(request: pytest.FixtureRequest, migrated_urls: dict[str, str]) -> str | None:
    """The database of the implementation under test; None for the in-memory fake."""
    return None if request.param == "memory" else migrated_urls[request.param]


@pytest.fixture
async def store(store_url: str | None) -> AsyncIterator[Harness]:
    if store_url is None:
        yield MemoryHarness()
        return
    harness = DatabaseHarness(store_url)
    await emptied(harness.engine)
    try:
        yield harness
    finally:
        await harness.close()


def a_configuration(tenant_id: str = TENANT) -> EmailConfiguration:
    config = EmailConfiguration.create(tenant_id=tenant_id, slug=f"shop-{tenant_id}", mail_zone_name="mail.example.com",
                                       signature=Signature("noreply", "Shop"), now=NOW)
    config.operational, config.administrative, config.server_id = Operational.OK, Administrative.UNLOCKED, SERVER
    return config


def a_job(config: EmailConfiguration, key: str = "k-1", recipient: str = "ann@example.com", **changes: Any) -> EmailJob:
    job = EmailJob.queue(tenant_id=config.tenant_id, configuration_e_id=config.e_id, recipient=recipient,
                         subject="Hello", idempotency_key=key, now=NOW, text_body="Hi.")
    return dataclasses.replace(job, **changes) if changes else job


def a_record(job: EmailJob, *, created_at: datetime = NOW, ttl: timedelta = timedelta(hours=24)) -> IdempotencyRecord:
    return IdempotencyRecord(key=job.idempotency_key, request_hash="fingerprint", resource_e_id=job.e_id,
                             response_status=202, response_body={"eId": job.e_id}, created_at=created_at,
                             expires_at=created_at + ttl)


def an_event(kind: EventKind, *, job: EmailJob | None = None, message_id: str | None = None,
             recipient: str = "ann@example.com", server_id: int = SERVER, minute: int = 0) -> DeliveryEvent:
    record_type = {EventKind.HARD_BOUNCE: "Bounce", EventKind.REACTIVATED: "SubscriptionChange",
                   EventKind.SUPPRESSED: "SubscriptionChange"}.get(kind, kind.value)
    return DeliveryEvent(record_type=record_type, kind=kind, server_id=server_id, message_id=message_id,
                         recipient=recipient, occurred_at=NOW + timedelta(minutes=minute),
                         job_e_id=job.e_id if job else None, payload={"RecordType": record_type})


async def ingest(store: Harness, config: EmailConfiguration, event: DeliveryEvent, *, minute: int = 1) -> Any:
    at = NOW + timedelta(minutes=minute)
    return await store.events.store_and_apply(config.tenant_id, config.e_id, event,
                                              EventEffects.of(event, config.tenant_id, at), received_at=at)


async def sent_job(store: Harness, config: EmailConfiguration, **changes: Any) -> EmailJob:
    job = a_job(config, **{"status": JobStatus.SENT, "message_id": f"msg-{config.tenant_id}", **changes})
    await store.seed_job(job)
    return job


# --- the send path ---------------------------------------------------------------------------------


async def test_a_job_is_queued_with_its_record_while_every_gate_holds(store: Harness) -> None:
    config = a_configuration()
    await store.seed_configuration(config)
    job = a_job(config)
    assert await store.sends.queue_job(job, NAMESPACE, a_record(job), configuration_version=1)
    facts = await store.sends.read_gates(TENANT, NAMESPACE, "k-1", config.e_id, job.recipient)
    assert facts.record is not None and facts.record.resource_e_id == job.e_id
    assert facts.record.response_body == {"eId": job.e_id} and facts.record.expires_at == NOW + timedelta(hours=24)
    assert facts.record_job_status is JobStatus.QUEUED
    assert facts.configuration is not None and facts.configuration.e_id == config.e_id
    assert facts.configuration.version == 1 and facts.suppressed_for is None
    stored = await store.job(TENANT, job.e_id)
    assert stored is not None and stored.status is JobStatus.QUEUED and stored.status_times == {JobStatus.QUEUED: NOW}


async def test_nothing_is_queued_when_the_configuration_changed_since_the_gates_were_read(store: Harness) -> None:
    config = a_configuration()
    await store.seed_configuration(config)
    job = a_job(config)
    assert not await store.sends.queue_job(job, NAMESPACE, a_record(job), configuration_version=2)
    assert await store.job(TENANT, job.e_id) is None
    assert (await store.sends.read_gates(TENANT, NAMESPACE, "k-1", config.e_id, job.recipient)).record is None


async def test_nothing_is_queued_for_a_suppressed_recipient_and_the_gates_read_why(store: Harness) -> None:
    config = a_configuration()
    await store.seed_configuration(config)
    await store.seed_suppression(SuppressionEntry.new(tenant_id=TENANT, recipient="ann@example.com",
                                                      reason=SuppressionReason.HARD_BOUNCE,
                                                      origin=SuppressionOrigin.WEBHOOK, now=NOW))
    job = a_job(config)
    assert not await store.sends.queue_job(job, NAMESPACE, a_record(job), configuration_version=1)
    assert await store.job(TENANT, job.e_id) is None
    facts = await store.sends.read_gates(TENANT, NAMESPACE, "k-1", config.e_id, "ann@example.com")
    assert facts.suppressed_for == "HardBounce" and facts.record is None
    other = await store.sends.read_gates(OTHER_TENANT, NAMESPACE, "k-1", config.e_id, "ann@example.com")
    assert other.suppressed_for is None and other.configuration is None  # another tenant sees none of it


async def test_a_live_key_queues_nothing_more(store: Harness) -> None:
    config = a_configuration()
    await store.seed_configuration(config)
    first, second = a_job(config), a_job(config)
    assert await store.sends.queue_job(first, NAMESPACE, a_record(first), configuration_version=1)
    later = NOW + timedelta(hours=23)
    assert not await store.sends.queue_job(second, NAMESPACE, a_record(second, created_at=later), configuration_version=1)
    assert await store.jobs_with_key(TENANT, "k-1") == 1
    facts = await store.sends.read_gates(TENANT, NAMESPACE, "k-1", config.e_id, first.recipient)
    assert facts.record is not None and facts.record.resource_e_id == first.e_id


async def test_an_expired_key_is_renewed_for_its_new_job(store: Harness) -> None:
    config = a_configuration()
    await store.seed_configuration(config)
    first, second = a_job(config), a_job(config)
    assert await store.sends.queue_job(first, NAMESPACE, a_record(first), configuration_version=1)
    later = NOW + timedelta(hours=24)  # expires_at <= now: expired
    assert await store.sends.queue_job(second, NAMESPACE, a_record(second, created_at=later), configuration_version=1)
    facts = await store.sends.read_gates(TENANT, NAMESPACE, "k-1", config.e_id, first.recipient)
    assert facts.record is not None and facts.record.resource_e_id == second.e_id
    assert facts.record.created_at == later and facts.record.expires_at == later + timedelta(hours=24)
    assert await store.jobs_with_key(TENANT, "k-1") == 2


async def test_the_gates_of_an_unknown_configuration_and_key_find_nothing(store: Harness) -> None:
    facts = await store.sends.read_gates(TENANT, NAMESPACE, "never-used", "no-such-configuration", "ann@example.com")
    assert facts == type(facts)(None, None, None, None)


# --- the webhook ----------------------------------------------------------------------------------


async def test_an_event_of_another_server_changes_nothing(store: Harness) -> None:
    config = a_configuration()
    await store.seed_configuration(config)
    job = await sent_job(store, config)
    applied = await ingest(store, config, an_event(EventKind.HARD_BOUNCE, job=job, server_id=SERVER + 1))
    assert applied.server_id == SERVER and not applied.stored and applied.job_e_id is None
    assert (await store.job(TENANT, job.e_id)).status is JobStatus.SENT  # type: ignore[union-attr]
    assert await store.event_count(TENANT) == 0 and await store.live_suppression(TENANT, job.recipient) is None


async def test_an_event_moves_its_job_and_records_the_status_time_only_the_first_time(store: Harness) -> None:
    config = a_configuration()
    await store.seed_configuration(config)
    earlier = NOW - timedelta(days=1)
    job = await sent_job(store, config, status_times={JobStatus.QUEUED: NOW, JobStatus.BOUNCED: earlier})
    applied = await ingest(store, config, an_event(EventKind.DELIVERY, job=job), minute=2)
    assert applied.stored and applied.job_e_id == job.e_id
    assert (applied.previous_status, applied.status) == (JobStatus.SENT, JobStatus.DELIVERED)
    applied = await ingest(store, config, an_event(EventKind.HARD_BOUNCE, job=job), minute=3)
    assert (applied.previous_status, applied.status) == (JobStatus.DELIVERED, JobStatus.BOUNCED)
    stored = await store.job(TENANT, job.e_id)
    assert stored is not None and stored.status is JobStatus.BOUNCED
    assert stored.status_times[JobStatus.DELIVERED] == NOW + timedelta(minutes=2)
    assert stored.status_times[JobStatus.BOUNCED] == earlier  # already there: kept
    assert stored.updated_at == NOW + timedelta(minutes=3)


async def test_a_duplicate_event_changes_nothing(store: Harness) -> None:
    config = a_configuration()
    await store.seed_configuration(config)
    job = await sent_job(store, config)
    event = an_event(EventKind.DELIVERY, job=job)
    assert (await ingest(store, config, event)).stored
    again = await ingest(store, config, event, minute=5)
    assert not again.stored and again.job_e_id == job.e_id
    assert again.previous_status is JobStatus.DELIVERED and again.status is JobStatus.DELIVERED
    assert await store.event_count(TENANT) == 1
    assert (await store.job(TENANT, job.e_id)).updated_at == NOW + timedelta(minutes=1)  # type: ignore[union-attr]


async def test_a_step_back_toward_less_concerning_marks_the_job_inconsistent(store: Harness) -> None:
    config = a_configuration()
    await store.seed_configuration(config)
    job = await sent_job(store, config)
    await ingest(store, config, an_event(EventKind.SPAM_COMPLAINT, job=job), minute=1)
    applied = await ingest(store, config, an_event(EventKind.DELIVERY, job=job), minute=2)
    assert (applied.previous_status, applied.status) == (JobStatus.COMPLAINED, JobStatus.INCONSISTENT)
    applied = await ingest(store, config, an_event(EventKind.HARD_BOUNCE, job=job), minute=3)
    assert applied.stored and applied.status is JobStatus.INCONSISTENT  # INCONSISTENT never moves


async def test_an_event_finds_its_job_by_message_id_in_its_own_tenant_only(store: Harness) -> None:
    config, other = a_configuration(), a_configuration(OTHER_TENANT)
    await store.seed_configuration(config)
    await store.seed_configuration(other)
    theirs = await sent_job(store, other, message_id="shared-id")
    ours = await sent_job(store, config, message_id="shared-id")
    applied = await ingest(store, config, an_event(EventKind.DELIVERY, message_id="shared-id"))
    assert applied.job_e_id == ours.e_id and applied.status is JobStatus.DELIVERED
    assert (await store.job(OTHER_TENANT, theirs.e_id)).status is JobStatus.SENT  # type: ignore[union-attr]
    unmatched = await ingest(store, config, an_event(EventKind.DELIVERY, message_id="unknown-id"))
    assert unmatched.stored and unmatched.job_e_id is None and unmatched.status is None
    assert await store.event_count(TENANT) == 2


async def test_a_bounce_suppresses_once_and_the_first_reason_stays(store: Harness) -> None:
    config = a_configuration()
    await store.seed_configuration(config)
    job = await sent_job(store, config)
    await ingest(store, config, an_event(EventKind.HARD_BOUNCE, job=job), minute=1)
    await ingest(store, config, an_event(EventKind.SPAM_COMPLAINT, job=job), minute=2)
    live = await store.live_suppression(TENANT, job.recipient)
    assert live is not None and live.reason is SuppressionReason.HARD_BOUNCE and live.origin is SuppressionOrigin.WEBHOOK
    assert await store.live_suppression(OTHER_TENANT, job.recipient) is None


async def test_reactivation_lifts_a_bounce_but_never_a_spam_complaint(store: Harness) -> None:
    config = a_configuration()
    await store.seed_configuration(config)
    for recipient, reason in (("bob@example.com", SuppressionReason.HARD_BOUNCE),
                              ("eve@example.com", SuppressionReason.SPAM_COMPLAINT)):
        await store.seed_suppression(SuppressionEntry.new(tenant_id=TENANT, recipient=recipient, reason=reason,
                                                          origin=SuppressionOrigin.WEBHOOK, now=NOW))
        await ingest(store, config, an_event(EventKind.REACTIVATED, recipient=recipient), minute=4)
    assert await store.live_suppression(TENANT, "bob@example.com") is None
    kept = await store.live_suppression(TENANT, "eve@example.com")
    assert kept is not None and kept.reason is SuppressionReason.SPAM_COMPLAINT


async def test_an_open_without_server_id_is_stored_but_a_delivery_without_one_is_not(store: Harness) -> None:
    config = a_configuration()
    await store.seed_configuration(config)
    job = await sent_job(store, config)
    opened = dataclasses.replace(an_event(EventKind.OPEN, job=job), server_id=None)
    assert (await ingest(store, config, opened)).stored  # Postmark sends Open/Click without a ServerID
    delivered = dataclasses.replace(an_event(EventKind.DELIVERY, job=job), server_id=None)
    refused = await ingest(store, config, delivered, minute=2)
    assert not refused.stored and (await store.job(TENANT, job.e_id)).status is JobStatus.SENT  # type: ignore[union-attr]


async def test_an_event_matched_by_tm_job_records_its_message_id_when_the_job_has_none(store: Harness) -> None:
    """SPEC §14: Postmark's answer lost (or not yet committed), the webhook came first: the job
    still gets Postmark's MessageID — with a status move (Delivery) or without one (Open)."""
    config = a_configuration()
    await store.seed_configuration(config)
    racing = a_job(config, "k-1", status=JobStatus.SENDING)
    opened = a_job(config, "k-2", recipient="bob@example.com", status=JobStatus.DELIVERED)
    await store.seed_job(racing)
    await store.seed_job(opened)
    applied = await ingest(store, config, an_event(EventKind.DELIVERY, job=racing, message_id="pm-1"), minute=2)
    assert (applied.previous_status, applied.status) == (JobStatus.SENDING, JobStatus.DELIVERED)
    applied = await ingest(store, config, an_event(EventKind.OPEN, job=opened, message_id="pm-2",
                                                   recipient="bob@example.com"), minute=3)
    assert (applied.previous_status, applied.status) == (JobStatus.DELIVERED, JobStatus.DELIVERED)
    first, second = await store.job(TENANT, racing.e_id), await store.job(TENANT, opened.e_id)
    assert first is not None and (first.status, first.message_id) == (JobStatus.DELIVERED, "pm-1")
    assert second is not None and (second.status, second.message_id) == (JobStatus.DELIVERED, "pm-2")
    # a MessageID once recorded is never replaced by an event's
    await ingest(store, config, an_event(EventKind.CLICK, job=racing, message_id="someone-else"), minute=4)
    assert (await store.job(TENANT, racing.e_id)).message_id == "pm-1"  # type: ignore[union-attr]
