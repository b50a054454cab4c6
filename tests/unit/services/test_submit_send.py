"""submit_send over the in-memory stores: the gates in SPEC order, replays, the memo, renewals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tenantmail.domain.configuration import Administrative, EmailConfiguration, Operational, Signature
from tenantmail.domain.errors import (
    IdempotencyInFlight,
    IdempotencyMismatch,
    NotFound,
    NotSendable,
    RecipientSuppressed,
    ReplayOfInconsistent,
)
from tenantmail.domain.job import EmailJob, JobStatus
from tenantmail.domain.send_request import SendRequest
from tenantmail.domain.suppression import SuppressionEntry, SuppressionOrigin, SuppressionReason
from tenantmail.services.submit_send import GATE_READS, NAMESPACE, Submitted, submit_send
from tests.fakes import InMemoryStorage, RecordingTelemetry, service_context

TENANT = "tenant-a"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def storage() -> InMemoryStorage:
    return InMemoryStorage()


@pytest.fixture
def config(storage: InMemoryStorage, clock: Clock) -> EmailConfiguration:
    config = EmailConfiguration.create(tenant_id=TENANT, slug="shop", mail_zone_name="mail.example.com",
                                       signature=Signature("noreply", "Shop"), now=clock.now)
    config.operational, config.administrative, config.version = Operational.OK, Administrative.UNLOCKED, 1
    storage.add_configuration(config)
    return config


def request(config: EmailConfiguration, recipient: str = "ann@example.com", subject: str = "Hello") -> SendRequest:
    return SendRequest(configuration_e_id=config.e_id, recipient=recipient, subject=subject, text_body="Hi.")


def render(job: EmailJob) -> dict[str, Any]:
    return {"eId": job.e_id, "status": job.status.value}


async def send(storage: InMemoryStorage, clock: Clock, req: SendRequest, key: str = "k-1",
               telemetry: RecordingTelemetry | None = None, ctx: Any = None) -> Submitted:
    ctx = ctx or service_context(storage, clock=clock, telemetry=telemetry)
    return await submit_send(ctx, TENANT, idempotency_key=key, request=req, author="ops", render=render)


async def test_a_new_key_queues_the_job_with_its_answer(storage: InMemoryStorage, clock: Clock,
                                                        config: EmailConfiguration) -> None:
    telemetry = RecordingTelemetry()
    submitted = await send(storage, clock, request(config), telemetry=telemetry)
    assert submitted.status == 202 and not submitted.replayed
    job = storage.jobs[(TENANT, submitted.body["eId"])]
    assert job.status is JobStatus.QUEUED and job.author == "ops" and job.idempotency_key == "k-1"
    record = storage.records[(TENANT, NAMESPACE, "k-1")]
    assert record.response_body == submitted.body and record.expires_at == clock.now + timedelta(hours=24)
    assert telemetry.names() == ["email.send.accepted"]


async def test_a_remembered_configuration_queues_in_one_call(storage: InMemoryStorage, clock: Clock,
                                                             config: EmailConfiguration) -> None:
    ctx = service_context(storage, clock=clock)
    await send(storage, clock, request(config), key="k-1", ctx=ctx)
    assert storage.calls == {"queue_job": 1, "read_gates": 1}  # the first send reads the gates
    await send(storage, clock, request(config), key="k-2", ctx=ctx)
    assert storage.calls == {"queue_job": 2, "read_gates": 1}  # the second goes straight to the queue


async def test_a_stale_memo_costs_one_read_never_a_wrong_answer(storage: InMemoryStorage, clock: Clock,
                                                                config: EmailConfiguration) -> None:
    ctx = service_context(storage, clock=clock)
    await send(storage, clock, request(config), key="k-1", ctx=ctx)
    changed = storage.configurations[(TENANT, config.e_id)]
    changed.administrative, changed.version = Administrative.LOCKED, 2  # locked since
    with pytest.raises(NotSendable):
        await send(storage, clock, request(config), key="k-2", ctx=ctx)
    assert len(storage.jobs) == 1


async def test_the_same_request_again_is_replayed(storage: InMemoryStorage, clock: Clock,
                                                  config: EmailConfiguration) -> None:
    first = await send(storage, clock, request(config))
    again = await send(storage, clock, request(config))
    assert again == Submitted(202, first.body, replayed=True) and len(storage.jobs) == 1


async def test_a_key_is_answered_before_every_other_gate(storage: InMemoryStorage, clock: Clock,
                                                         config: EmailConfiguration) -> None:
    first = await send(storage, clock, request(config))
    storage.configurations[(TENANT, config.e_id)].administrative = Administrative.LOCKED
    storage.suppressions.append(SuppressionEntry.new(tenant_id=TENANT, recipient="ann@example.com",
                                                     reason=SuppressionReason.MANUAL,
                                                     origin=SuppressionOrigin.OPERATOR, now=clock.now))
    assert (await send(storage, clock, request(config))).body == first.body  # replayed: gates come after the key


async def test_another_request_with_a_used_key_is_refused(storage: InMemoryStorage, clock: Clock,
                                                          config: EmailConfiguration) -> None:
    await send(storage, clock, request(config))
    with pytest.raises(IdempotencyMismatch):
        await send(storage, clock, request(config, subject="Something else"))


async def test_the_replay_of_a_job_now_inconsistent_is_refused(storage: InMemoryStorage, clock: Clock,
                                                               config: EmailConfiguration) -> None:
    first = await send(storage, clock, request(config))
    storage.jobs[(TENANT, first.body["eId"])].status = JobStatus.INCONSISTENT
    with pytest.raises(ReplayOfInconsistent):
        await send(storage, clock, request(config))


async def test_an_expired_key_queues_afresh(storage: InMemoryStorage, clock: Clock, config: EmailConfiguration) -> None:
    first = await send(storage, clock, request(config))
    clock.now += timedelta(hours=24)
    again = await send(storage, clock, request(config, subject="A new message"))
    assert not again.replayed and again.body["eId"] != first.body["eId"] and len(storage.jobs) == 2


async def test_an_unknown_configuration_is_not_found(storage: InMemoryStorage, clock: Clock,
                                                     config: EmailConfiguration) -> None:
    other = EmailConfiguration.create(tenant_id=TENANT, slug="gone", mail_zone_name="mail.example.com",
                                      signature=Signature("noreply", "Shop"), now=clock.now)
    with pytest.raises(NotFound):
        await send(storage, clock, request(other))
    assert not storage.jobs and not storage.records


async def test_a_configuration_that_cannot_send_says_why(storage: InMemoryStorage, clock: Clock,
                                                         config: EmailConfiguration) -> None:
    storage.configurations[(TENANT, config.e_id)].operational = Operational.FAILURE
    with pytest.raises(NotSendable, match="operational state is FAILURE"):
        await send(storage, clock, request(config))


async def test_a_suppressed_recipient_is_refused_with_the_reason(storage: InMemoryStorage, clock: Clock,
                                                                 config: EmailConfiguration) -> None:
    storage.suppressions.append(SuppressionEntry.new(tenant_id=TENANT, recipient="ann@example.com",
                                                     reason=SuppressionReason.HARD_BOUNCE,
                                                     origin=SuppressionOrigin.WEBHOOK, now=clock.now))
    with pytest.raises(RecipientSuppressed) as refused:
        await send(storage, clock, request(config))
    assert refused.value.details == {"reason": "HardBounce"} and not storage.jobs


async def test_a_send_that_keeps_meeting_concurrent_changes_is_told_to_retry(
    storage: InMemoryStorage, clock: Clock, config: EmailConfiguration,
) -> None:
    async def always_changed(*args: Any, **kwargs: Any) -> bool:
        storage.calls["queue_job"] += 1
        return False

    storage.queue_job = always_changed  # type: ignore[method-assign]
    with pytest.raises(IdempotencyInFlight):
        await send(storage, clock, request(config))
    assert storage.calls["read_gates"] == GATE_READS and storage.calls["queue_job"] == GATE_READS
