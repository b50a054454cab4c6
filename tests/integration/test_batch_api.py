"""SPEC §17 "Batch" over HTTP on both databases: ``POST /job/batch`` gates and dedupes every message as
``POST /job`` would, commits the accepted ones together, and answers per message in input order."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import psycopg
import pytest

from tenantmail.adapters.db.intake.postgres_lane import libpq_url
from tenantmail.bootstrap import Container
from tenantmail.domain.configuration import Administrative
from tenantmail.domain.job import JobStatus
from tenantmail.domain.suppression import SuppressionEntry, SuppressionOrigin, SuppressionReason
from tenantmail.services.submit_send import NAMESPACE
from tests.helpers import send_body, sendable_configuration

pytestmark = pytest.mark.usefixtures("engine")  # each test starts on empty tables


def message(config_e_id: str, key: str, **extra: object) -> dict:
    return {**send_body(config_e_id, **extra), "idempotencyKey": key}


async def batch(api: httpx.AsyncClient, *messages: dict) -> list[dict]:
    answer = await api.post("/job/batch", json={"messages": list(messages)})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["index"] for r in results] == list(range(len(messages)))
    return results


async def total(api: httpx.AsyncClient) -> int:
    return (await api.get("/job")).json()["total"]


async def test_a_batch_queues_every_valid_message_in_order(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "batch")
    results = await batch(api, *(message(config.e_id, f"b-{i}", recipient=f"r{i}@example.com", tag="bulk")
                                 for i in range(20)))
    assert all(r["status"] == 202 and r["eId"] and "error" not in r for r in results)
    page = (await api.get("/job", params={"tag": "bulk", "limit": 100})).json()
    assert page["total"] == 20
    by_id = {item["eId"]: item["payload"]["recipient"] for item in page["items"]}
    assert [by_id[r["eId"]] for r in results] == [f"r{i}@example.com" for i in range(20)]


async def test_every_item_is_gated_and_idempotent_as_a_single_send(
    api: httpx.AsyncClient, app_container: Container, client_for: Callable[[str], httpx.AsyncClient],
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "batchgates")
    first = await api.post("/job", json=send_body(config.e_id), headers={"Idempotency-Key": "single-1"})
    inconsistent = (await api.post("/job", json=send_body(config.e_id, subject="x"),
                                   headers={"Idempotency-Key": "single-2"})).json()["eId"]
    async with app_container.ctx.uow("tenant-a") as uow:
        job = await uow.jobs.get(inconsistent)
        job.move(JobStatus.INCONSISTENT, app_container.ctx.clock())
        await uow.jobs.save(job)
        await uow.suppressions.add_if_absent(SuppressionEntry.new(
            tenant_id="tenant-a", recipient="blocked@example.com", reason=SuppressionReason.HARD_BOUNCE,
            origin=SuppressionOrigin.WEBHOOK, now=app_container.ctx.clock()))
        await uow.commit()

    results = await batch(
        api,
        message(config.e_id, "single-1"),  # 0 replay of the single send
        message(config.e_id, "single-1", subject="another"),  # 1 same key, another message: 422
        message(config.e_id, "single-2", subject="x"),  # 2 its job is INCONSISTENT: 412
        message("00000000-0000-0000-0000-000000000000", "n-1"),  # 3 no such configuration: 404
        message(config.e_id, "s-1", recipient="Blocked@example.com"),  # 4 suppressed: 403
        message(config.e_id, "ok-1", recipient="fine@example.com"),  # 5 accepted
        message(config.e_id, "ok-1", recipient="fine@example.com"),  # 6 the same key again in the batch: replay
        message(config.e_id, "ok-1", recipient="other@example.com"),  # 7 … or 422 for another message
        message(config.e_id, "f-1", fromLocalPart="billing"),  # 8 From not allowed: 400
    )
    assert [r["status"] for r in results] == [202, 422, 412, 404, 403, 202, 202, 422, 400]
    assert results[0]["eId"] == first.json()["eId"] and results[0]["replayed"] is True
    assert results[6]["eId"] == results[5]["eId"] and results[6]["replayed"] is True and "replayed" not in results[5]
    assert results[1]["error"]["error"] == "IdempotencyKeyReused"
    assert results[4]["error"]["error"] == "RecipientSuppressed" and results[4]["error"]["details"]["reason"] == "HardBounce"
    assert await total(api) == 3  # the two single sends and the one accepted message

    async with app_container.ctx.uow("tenant-a") as uow:  # not sendable: 409 per item
        locked = await uow.configurations.get(config.e_id)
        locked.administrative = Administrative.LOCKED
        await uow.configurations.save(locked, author="tests", cause="test")
        await uow.commit()
    [refused] = await batch(api, message(config.e_id, "l-1"))
    assert refused["status"] == 409 and refused["error"]["error"] == "NotSendable"


@pytest.mark.parametrize("bad", [
    {"recipient": "not-an-address"},
    {"subject": "two\nlines"},
    {"textBody": None},
    {"tag": "t" * 1001},
    {"metadata": {"tm_job": "x"}},
    {"htmlBody": "<script>alert(1)</script>"},
    {"idempotencyKey": ""},
    {"idempotencyKey": "\u00e9"},
    {"unknownField": 1},
    {"attachments": [{"filename": "x.exe", "contentType": "application/x", "contentBase64": "AAAA"}]},
    {"htmlBody": "x" * (10 * 1024 * 1024)},
], ids=lambda b: repr(b)[:30])
async def test_a_malformed_message_fails_only_itself(
    api: httpx.AsyncClient, app_container: Container, bad: dict,
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "batchbad")
    results = await batch(api, message(config.e_id, "ok-1"), {**message(config.e_id, "bad-1"), **bad},
                          message(config.e_id, "ok-2", recipient="second@example.com"))
    assert [r["status"] for r in results][0::2] == [202, 202]
    assert results[1]["status"] in (400, 413) and results[1]["error"]["message"] and "eId" not in results[1]
    assert await total(api) == 2


async def test_a_message_that_is_not_an_object_fails_only_itself(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "batchshape")
    answer = await api.post("/job/batch", json={"messages": [message(config.e_id, "ok-1"), "nonsense", 5]})
    assert answer.status_code == 400  # the batch's own shape is wrong: nothing is queued
    assert await total(api) == 0


@pytest.mark.parametrize(("body", "status"), [
    ({"messages": [{"configurationEId": "c", "idempotencyKey": f"k{i}"} for i in range(501)]}, 413),
    ({}, 400),
    ({"messages": "x"}, 400),
    ({"messages": [], "extra": 1}, 400),
])
async def test_a_bad_batch_is_refused_whole_and_stores_nothing(api: httpx.AsyncClient, body: dict, status: int) -> None:
    answer = await api.post("/job/batch", json=body)
    assert answer.status_code == status
    assert set(answer.json()) >= {"error", "message", "requestId"}
    assert await total(api) == 0


async def test_an_empty_batch_answers_no_results(api: httpx.AsyncClient) -> None:
    assert await batch(api) == []


async def test_a_batch_of_500_is_one_request(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "batchfull")
    results = await batch(api, *(message(config.e_id, f"m-{i}", recipient=f"r{i}@example.com") for i in range(500)))
    assert {r["status"] for r in results} == {202}
    assert await total(api) == 500


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_key_held_by_an_uncommitted_request_is_409_for_that_item_only(
    api: httpx.AsyncClient, app_container: Container,
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "batchinflight")
    url = libpq_url(app_container.settings.effective_database_url)
    async with await psycopg.AsyncConnection.connect(url) as holder:  # another request, still running
        await holder.execute(
            "INSERT INTO email_idempotency_records (tenant_id, namespace, key, request_hash, state,"
            " created_at, expires_at) VALUES ('tenant-a', %s, 'held', 'x', 'completed', now() - interval '2 days',"
            " now() - interval '1 day')", (NAMESPACE,))  # expired: the batch may renew it, so it must wait
        results = await batch(api, message(config.e_id, "free-1"), message(config.e_id, "held"),
                              message(config.e_id, "free-2", recipient="two@example.com"))
        await holder.rollback()
    assert [r["status"] for r in results] == [202, 409, 202]
    assert results[1]["error"]["error"] == "IdempotencyInFlight"
