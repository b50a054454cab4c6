"""ingest_webhook_event over the in-memory stores: the order of checks, outcomes and their telemetry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tenantmail.domain.configuration import Administrative, EmailConfiguration, Operational, Signature
from tenantmail.domain.delivery_event import DeliveryEvent, EventKind, MalformedEvent
from tenantmail.domain.job import EmailJob, JobStatus
from tenantmail.domain.suppression import SuppressionReason
from tenantmail.services.ingest_webhook_event import (
    Ingested,
    Outcome,
    WebhookCall,
    WebhookUnauthorized,
    ingest_webhook_event,
)
from tests.fakes import FixedWebhookSecrets, InMemoryStorage, RecordingTelemetry, service_context

TENANT, SERVER = "tenant-a", 4711
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def storage() -> InMemoryStorage:
    return InMemoryStorage()


@pytest.fixture
def config(storage: InMemoryStorage) -> EmailConfiguration:
    config = EmailConfiguration.create(tenant_id=TENANT, slug="shop", mail_zone_name="mail.example.com",
                                       signature=Signature("noreply", "Shop"), now=NOW)
    config.operational, config.administrative, config.server_id = Operational.OK, Administrative.UNLOCKED, SERVER
    storage.add_configuration(config)
    return config


@pytest.fixture
def job(storage: InMemoryStorage, config: EmailConfiguration) -> EmailJob:
    job = EmailJob.queue(tenant_id=TENANT, configuration_e_id=config.e_id, recipient="ann@example.com",
                         subject="Hello", idempotency_key="k-1", now=NOW)
    job.mark_sent("msg-1", NOW)
    storage.add_job(job)
    return job


def event(kind: EventKind, *, server_id: int = SERVER, message_id: str = "msg-1", minute: int = 0) -> DeliveryEvent:
    return DeliveryEvent(record_type=kind.value, kind=kind, server_id=server_id, message_id=message_id,
                         recipient="ann@example.com", occurred_at=NOW.replace(minute=minute))


async def ingest(storage: InMemoryStorage, config: EmailConfiguration, parsed: DeliveryEvent | Exception, *,
                 password: str | None = None, telemetry: RecordingTelemetry | None = None) -> Ingested:
    async def locate(e_id: str) -> str | None:
        return TENANT if e_id == config.e_id else None

    def parse(body: bytes) -> DeliveryEvent:
        if isinstance(parsed, Exception):
            raise parsed
        return parsed

    ctx = service_context(storage, clock=lambda: NOW, telemetry=telemetry)
    call = WebhookCall(config.e_id, FixedWebhookSecrets().current(config.e_id) if password is None else password, b"{}")
    return await ingest_webhook_event(ctx, call, locate=locate, parse=parse)


async def test_a_delivery_moves_its_job_and_is_reported(storage: InMemoryStorage, config: EmailConfiguration,
                                                        job: EmailJob) -> None:
    telemetry = RecordingTelemetry()
    result = await ingest(storage, config, event(EventKind.DELIVERY), telemetry=telemetry)
    assert (result.outcome, result.job_e_id, result.previous_status, result.status) == (
        Outcome.MATCHED, job.e_id, JobStatus.SENT, JobStatus.DELIVERED)
    assert storage.jobs[(TENANT, job.e_id)].status is JobStatus.DELIVERED
    assert telemetry.names() == ["email.webhook.received", "email.webhook.projection"]


async def test_a_wrong_password_is_refused_before_the_body_is_read(storage: InMemoryStorage,
                                                                   config: EmailConfiguration) -> None:
    telemetry = RecordingTelemetry()
    with pytest.raises(WebhookUnauthorized):
        await ingest(storage, config, MalformedEvent("never parsed"), password="wrong", telemetry=telemetry)
    assert telemetry.emitted[0][1] == {"reason": "auth_mismatch"} and not storage.calls


async def test_a_malformed_body_is_refused_and_nothing_is_stored(storage: InMemoryStorage,
                                                                 config: EmailConfiguration) -> None:
    with pytest.raises(MalformedEvent):
        await ingest(storage, config, MalformedEvent("not JSON"))
    assert not storage.calls


async def test_an_event_of_another_server_is_refused(storage: InMemoryStorage, config: EmailConfiguration,
                                                     job: EmailJob) -> None:
    with pytest.raises(WebhookUnauthorized, match="ServerID"):
        await ingest(storage, config, event(EventKind.DELIVERY, server_id=SERVER + 1))
    assert not storage.events and storage.jobs[(TENANT, job.e_id)].status is JobStatus.SENT


async def test_a_duplicate_is_acknowledged_without_change(storage: InMemoryStorage, config: EmailConfiguration,
                                                          job: EmailJob) -> None:
    await ingest(storage, config, event(EventKind.DELIVERY))
    telemetry = RecordingTelemetry()
    again = await ingest(storage, config, event(EventKind.DELIVERY), telemetry=telemetry)
    assert again.outcome is Outcome.DUPLICATE and again.status is None
    assert telemetry.names() == ["email.webhook.received", "email.webhook.duplicate"]


async def test_an_event_for_no_known_job_is_kept_unmatched(storage: InMemoryStorage, config: EmailConfiguration) -> None:
    result = await ingest(storage, config, event(EventKind.HARD_BOUNCE, message_id="someone-elses"))
    assert result.outcome is Outcome.UNMATCHED and result.job_e_id is None
    live = storage.live_suppression(TENANT, "ann@example.com")
    assert live is not None and live.reason is SuppressionReason.HARD_BOUNCE  # the recipient is still suppressed


async def test_a_contradicting_event_marks_the_job_inconsistent_and_alerts(
    storage: InMemoryStorage, config: EmailConfiguration, job: EmailJob,
) -> None:
    await ingest(storage, config, event(EventKind.HARD_BOUNCE, minute=1))
    telemetry = RecordingTelemetry()
    result = await ingest(storage, config, event(EventKind.DELIVERY, minute=2), telemetry=telemetry)
    assert result.status is JobStatus.INCONSISTENT
    alert = next(e for e in telemetry.emitted if e[0] == "email.webhook.inconsistent")
    assert alert[2]["sentry"] is True and alert[2]["previous_status"] == "BOUNCED"


async def test_a_database_that_is_down_changes_nothing(storage: InMemoryStorage, config: EmailConfiguration,
                                                       job: EmailJob) -> None:
    storage.unavailable = ConnectionError("down")
    with pytest.raises(ConnectionError):
        await ingest(storage, config, event(EventKind.DELIVERY))
    assert storage.jobs[(TENANT, job.e_id)].status is JobStatus.SENT


@pytest.mark.parametrize("known", [True, False], ids=["known-eId", "unknown-eId"])
async def test_a_wrong_password_does_no_lookup_reads_no_body_and_logs_only_a_hash(
    storage: InMemoryStorage, config: EmailConfiguration, known: bool,
) -> None:
    """SPEC §14: the same work for a known or an unknown eId (the password is derived, not looked
    up), no lookup and no body read before it matches, and the caller's username only hashed."""
    looked_up: list[str] = []
    read: list[bool] = []

    async def locate(e_id: str) -> str | None:
        looked_up.append(e_id)
        return TENANT

    async def body() -> bytes:
        read.append(True)
        return b"{}"

    telemetry = RecordingTelemetry()
    username = config.e_id if known else "sk-live-the-callers-api-key"
    ctx = service_context(storage, clock=lambda: NOW, telemetry=telemetry)
    with pytest.raises(WebhookUnauthorized):
        await ingest_webhook_event(ctx, WebhookCall(username, "wrong", body), locate=locate,
                                   parse=lambda raw: event(EventKind.DELIVERY))
    assert looked_up == [] and read == [] and not storage.calls
    (name, labels, fields), = [(n, lab, f) for n, lab, f in telemetry.emitted]
    assert name == "email.webhook.rejected" and labels == {"reason": "auth_mismatch"}
    assert username not in repr(fields) and fields["configuration_eid"].startswith("sha256:")


async def test_the_body_is_read_once_the_password_matches(storage: InMemoryStorage, config: EmailConfiguration,
                                                          job: EmailJob) -> None:
    read: list[bool] = []

    async def body() -> bytes:
        read.append(True)
        return b"{}"

    async def locate(e_id: str) -> str | None:
        return TENANT if e_id == config.e_id else None

    ctx = service_context(storage, clock=lambda: NOW)
    call = WebhookCall(config.e_id, FixedWebhookSecrets().current(config.e_id), body)
    result = await ingest_webhook_event(ctx, call, locate=locate, parse=lambda raw: event(EventKind.DELIVERY))
    assert read == [True] and result.outcome is Outcome.MATCHED
