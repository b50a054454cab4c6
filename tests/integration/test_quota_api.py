"""SPEC §17 "Quotas" over HTTP on both databases: ``GET/PUT /tenant-limits``, 429 with Retry-After /
RateLimit-Policy / RateLimit once the tenant's bucket or day is used up, nothing stored for a
refused send, replays and other tenants unaffected, batch messages counted one by one."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tenantmail.bootstrap import Container
from tenantmail.domain.suppression import SuppressionEntry, SuppressionOrigin, SuppressionReason
from tests.helpers import send_body, sendable_configuration

pytestmark = pytest.mark.usefixtures("engine")  # each test starts on empty tables
SLOW = 0.001  #: sends per second: no token comes back while a test runs


async def post(api: httpx.AsyncClient, body: dict, key: str) -> httpx.Response:
    return await api.post("/job", json=body, headers={"Idempotency-Key": key})


async def limit(api: httpx.AsyncClient, **body: object) -> dict:
    answer = await api.put("/tenant-limits", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def total(api: httpx.AsyncClient) -> int:
    return (await api.get("/job")).json()["total"]


async def test_limits_are_read_and_replaced(api: httpx.AsyncClient, app_container: Container) -> None:
    settings = app_container.settings
    defaults = {"sendsPerSecond": settings.quota_sends_per_second, "burst": settings.quota_burst,
                "sendsPerDay": settings.quota_sends_per_day}
    fresh = (await api.get("/tenant-limits")).json()
    assert fresh["effective"] == defaults and fresh["burst"] is None and fresh["updatedBy"] is None
    changed = await limit(api, sendsPerSecond=5, burst=10)
    assert changed["effective"] == {**defaults, "sendsPerSecond": 5, "burst": 10} and changed["sendsPerDay"] is None
    assert changed["updatedBy"] == "tests" and (await api.get("/tenant-limits")).json() == changed
    assert (await limit(api))["effective"] == defaults  # all null: the defaults again


@pytest.mark.parametrize("body", [
    {"sendsPerSecond": 0}, {"sendsPerSecond": -1}, {"burst": 0}, {"sendsPerDay": 0}, {"burst": 1.5},
    {"sendsPerSecond": "fast"}, {"perMinute": 5}, {"burst": 10_000_000},
])
async def test_bad_limits_are_400_and_change_nothing(api: httpx.AsyncClient, body: dict) -> None:
    before = (await api.get("/tenant-limits")).json()
    answer = await api.put("/tenant-limits", json=body)
    assert answer.status_code == 400 and set(answer.json()) >= {"error", "message", "requestId"}
    assert (await api.get("/tenant-limits")).json() == before


async def test_a_tenant_past_its_burst_gets_429_with_rate_limit_headers(
    api: httpx.AsyncClient, app_container: Container, client_for: Callable[[str], httpx.AsyncClient],
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "quota")
    other_config = await sendable_configuration(app_container, "tenant-b", "quotab")
    await limit(api, sendsPerSecond=SLOW, burst=3)
    answers = [await post(api, send_body(config.e_id, recipient=f"r{i}@example.com"), f"q-{i}") for i in range(5)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]
    refused = answers[3]
    body = refused.json()
    assert body["error"] == "TooManyRequests" and body["requestId"] and body["details"]["retryAfterSeconds"] >= 1
    assert int(refused.headers["Retry-After"]) == body["details"]["retryAfterSeconds"]
    assert refused.headers["RateLimit-Policy"] == f'"burst";q=3;w={int(3 / SLOW)}, "daily";q=1000000;w=86400'
    assert refused.headers["RateLimit"] == f'"burst";r=0;t={refused.headers["Retry-After"]}'
    assert await total(api) == 3  # a refused send stores nothing
    replay = await post(api, send_body(config.e_id, recipient="r0@example.com"), "q-0")
    assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"  # a replay takes no token
    async with client_for("tenant-b") as other:  # another tenant's bucket is its own
        codes = [(await post(other, send_body(other_config.e_id, recipient=f"o{i}@example.com"), f"o-{i}")).status_code
                 for i in range(5)]
        assert codes == [202] * 5
    metrics = (await api.get(api.base_url.copy_with(path="/metrics"))).text
    throttled = {s.labels["tenant_id"]: s.value for f in text_string_to_metric_families(metrics) for s in f.samples
                 if s.name == "email_send_throttled_total"}
    assert throttled.get("tenant-a", 0) >= 2 and "tenant-b" not in throttled


async def test_a_refused_gate_takes_no_token(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "quotagate")
    await limit(api, sendsPerSecond=SLOW, burst=1)
    assert (await post(api, send_body("00000000-0000-0000-0000-000000000000"), "g-1")).status_code == 404
    assert (await post(api, send_body(config.e_id, fromLocalPart="nope"), "g-2")).status_code == 400
    assert (await post(api, send_body(config.e_id), "g-3")).status_code == 202  # the one token is still there


async def test_the_daily_quota_refuses_until_the_next_utc_day(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "quotaday")
    await limit(api, sendsPerDay=2, burst=100)
    codes = [(await post(api, send_body(config.e_id, recipient=f"d{i}@example.com"), f"d-{i}")).status_code
             for i in range(3)]
    assert codes == [202, 202, 429]
    refused = await post(api, send_body(config.e_id, recipient="d9@example.com"), "d-9")
    assert refused.headers["RateLimit"].startswith('"daily";r=0;') and "daily quota" in refused.json()["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 86_400


async def test_batch_messages_count_one_by_one(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "quotabatch")
    await limit(api, sendsPerSecond=SLOW, burst=3)
    messages = [{**send_body(config.e_id, recipient=f"b{i}@example.com"), "idempotencyKey": f"b-{i}"} for i in range(5)]
    results = (await api.post("/job/batch", json={"messages": messages})).json()["results"]
    assert [r["status"] for r in results] == [202, 202, 202, 429, 429]
    assert results[3]["error"]["error"] == "TooManyRequests" and results[3]["error"]["details"]["retryAfterSeconds"] >= 1
    assert await total(api) == 3


async def test_with_the_bucket_empty_the_other_gates_still_answer_first(
    api: httpx.AsyncClient, app_container: Container,
) -> None:
    """The quota is the last gate, also for a send that goes without reading the gates first (its
    configuration remembered as sendable): a replay stays a replay, a suppressed recipient a 403."""
    config = await sendable_configuration(app_container, "tenant-a", "quotalast")
    await limit(api, sendsPerSecond=SLOW, burst=2)
    async with app_container.ctx.uow("tenant-a") as uow:
        await uow.suppressions.add_if_absent(SuppressionEntry.new(
            tenant_id="tenant-a", recipient="blocked@example.com", reason=SuppressionReason.HARD_BOUNCE,
            origin=SuppressionOrigin.WEBHOOK, now=app_container.ctx.clock()))
        await uow.commit()
    assert (await post(api, send_body(config.e_id, recipient="l1@example.com"), "l-1")).status_code == 202
    batch = [{**send_body(config.e_id, recipient="l2@example.com"), "idempotencyKey": "l-2"}]
    assert (await api.post("/job/batch", json={"messages": batch})).json()["results"][0]["status"] == 202
    # the bucket is empty now, and the configuration is remembered: every send below skips the gate read
    assert (await post(api, send_body(config.e_id, recipient="blocked@example.com"), "l-3")).status_code == 403
    replay = await post(api, send_body(config.e_id, recipient="l1@example.com"), "l-1")
    assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
    messages = [{**send_body(config.e_id, recipient="l2@example.com"), "idempotencyKey": "l-2"},
                {**send_body(config.e_id, recipient="blocked@example.com"), "idempotencyKey": "l-4"},
                {**send_body(config.e_id, recipient="l5@example.com"), "idempotencyKey": "l-5"}]
    results = (await api.post("/job/batch", json={"messages": messages})).json()["results"]
    assert [(r["status"], r.get("replayed")) for r in results] == [(202, True), (403, None), (429, None)]
    assert await total(api) == 2
