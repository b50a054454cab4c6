"""``tenantmail worker`` as a fleet runs it (real processes): its /healthz, /readyz and /metrics
answer on ``TENANTMAIL_WORKER_PORT`` while it dispatches, and SIGTERM of a busy worker lets its
in-flight pass finish, exits well within the lease, and loses or duplicates nothing.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import Stack, queue_jobs, start_stack
from tests.app_fixtures import free_port
from tests.helpers import eventually, job_statuses, sendable_configuration

pytestmark = pytest.mark.slow
LEASE_SECONDS = 10


@pytest.fixture
async def stack(engine: AsyncEngine, database_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    # one pass in flight, of at most 10 slow sends: dispatching 60 jobs lasts long enough to scrape
    started = await start_stack(database_url, tmp_path / "var", lease_seconds=LEASE_SECONDS,
                                dispatch_batch_size=10, dispatch_concurrency=1, worker_poll_seconds=0.05,
                                postmark_timeout_seconds=2)
    yield started
    await started.close()


def accepted(metrics_text: str) -> float:
    """``email_send_outcome_total{class="accepted"}`` from a scrape (0 before the first send)."""
    return sum(sample.value for family in text_string_to_metric_families(metrics_text)
               for sample in family.samples
               if sample.name == "email_send_outcome_total" and sample.labels.get("class") == "accepted")


def worker(stack: Stack, port: int) -> subprocess.Popen[bytes]:
    return stack.spawn("worker", TENANTMAIL_WORKER_PORT=str(port))


async def test_a_worker_is_scraped_and_health_checked_while_it_dispatches(stack: Stack, engine: AsyncEngine) -> None:
    config = await sendable_configuration(stack.app, "tenant-probe", "probe")
    await queue_jobs(stack.app, config, 60)
    await stack.delay_sends(0.2)
    port = free_port()
    proc = worker(stack, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as probe:
            async def ready() -> bool:
                try:
                    return (await probe.get("/readyz")).json().get("status") == "ready"
                except httpx.TransportError:
                    return False

            await eventually(ready, timeout=60)
            assert (await probe.get("/healthz")).json() == {"status": "ok"}
            scrapes = []

            async def dispatched_between_scrapes() -> bool:
                scrape = await probe.get("/metrics")
                assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
                scrapes.append(accepted(scrape.text))
                return len({value for value in scrapes if value > 0}) >= 2  # it moved while we watched

            await eventually(dispatched_between_scrapes, timeout=60, interval=0.3)
            assert (await job_statuses(engine))["QUEUED"] > 0  # scraped mid-dispatch, not afterwards
            assert "email_send_dispatch_latency_seconds_bucket" in (await probe.get("/metrics")).text
            not_found = await probe.get("/v1/shop-access/email/configuration")
            assert not_found.status_code == 404  # the probe port serves no API
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=LEASE_SECONDS) == 0


async def test_sigterm_lets_a_busy_workers_pass_finish_and_loses_nothing(stack: Stack, engine: AsyncEngine) -> None:
    total = 200
    config = await sendable_configuration(stack.app, "tenant-stop", "stop")
    await queue_jobs(stack.app, config, total)
    await stack.delay_sends(0.5)  # each pass of 10 jobs holds its claims for ≥ 0.5 s
    busy = worker(stack, free_port())

    await eventually(lambda: _mid_pass(engine), timeout=60, interval=0.02)  # claims held, Postmark call out
    busy.send_signal(signal.SIGTERM)
    stopping = time.monotonic()
    assert busy.wait(timeout=LEASE_SECONDS) == 0  # a clean exit, within the lease
    assert time.monotonic() - stopping < LEASE_SECONDS

    after_stop = await job_statuses(engine)
    assert after_stop["SENDING"] == 0  # the in-flight pass was finished, no claim left behind
    assert 0 < after_stop["SENT"] < total and after_stop["SENT"] + after_stop["QUEUED"] == total

    successor = worker(stack, free_port())
    try:
        await eventually(lambda: _all_sent(engine, total), timeout=120, interval=0.2)
    finally:
        successor.send_signal(signal.SIGTERM)
        assert successor.wait(timeout=LEASE_SECONDS) == 0
    messages = await stack.messages(config.server_id or 0)
    per_job = Counter(m["Metadata"]["tm_job"] for m in messages)
    assert len(per_job) == total and max(per_job.values()) == 1  # nothing lost, nothing sent twice


async def _mid_pass(engine: AsyncEngine) -> bool:
    found = await job_statuses(engine)
    return found["SENDING"] > 0 and found["SENT"] > 0 and found["QUEUED"] > 0


async def _all_sent(engine: AsyncEngine, total: int) -> bool:
    return (await job_statuses(engine))["SENT"] == total
