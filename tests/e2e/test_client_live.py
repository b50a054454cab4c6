"""``tenantmail.client`` against a live ``tenantmail serve`` (embedded default: SQLite, the sandbox,
the worker in-process) over real HTTP — no mocks: the whole integration a calling service writes,
typed answers, typed errors with the SPEC body and requestId, idempotent sends, paging, waiting,
and notifications verified with ``verify_notification``. Plus send_email's retries against a real
local server that answers 503 and 409 (in flight) first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tenantmail.client import (
    AsyncClient,
    BadRequest,
    Client,
    JobRecord,
    NotFound,
    RetryPolicy,
    ServiceUnavailable,
    Unauthorized,
    verify_notification,
)
from tenantmail.sandbox.runner import ThreadedUvicorn
from tests.app_fixtures import free_port
from tests.notification_support import NotificationReceiver

pytestmark = pytest.mark.slow  # a real serve process
CLI = str(Path(sys.executable).with_name("tenantmail"))
API_KEY = "client-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTMAIL_")}
    env.update({"TENANTMAIL_VAR_DIR": str(work / "var"), "TENANTMAIL_PORT": str(port),
                "TENANTMAIL_SANDBOX_POSTMARK_PORT": "0", "TENANTMAIL_SANDBOX_ROUTE53_PORT": "0",
                "TENANTMAIL_API_KEYS": API_KEY, "TENANTMAIL_VERIFICATION_POLL_SECONDS": "0.2",
                "TENANTMAIL_WORKER_POLL_SECONDS": "0.05", "TENANTMAIL_NOTIFICATION_RETRY_BASE_SECONDS": "0.1",
                "TENANTMAIL_LOG_LEVEL": "WARNING"})
    proc = subprocess.Popen([CLI, "serve"], env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
        time.sleep(0.2)
    yield base
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def until(probe, timeout: float = 60, interval: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(interval)
    return found


@pytest.fixture(scope="module")
def configuration(serve: str) -> str:
    with Client(serve, API_KEY, "acme", author="client-tests") as tm:
        created = tm.create_configuration("clientlive", from_name="Acme")
        tm.signal_configuration(created.e_id, "provision")
        until(lambda: tm.get_configuration(created.e_id).payload.operational_status == "OK")
        tm.signal_configuration(created.e_id, "unlock")
        assert tm.get_configuration(created.e_id).payload.sendable is True
        return created.e_id


def test_a_send_is_delivered_and_its_notifications_verify(
    serve: str, configuration: str, notification_receiver: NotificationReceiver,
) -> None:
    with Client(serve, API_KEY, "acme") as tm:
        endpoint = tm.create_notification_endpoint(notification_receiver.url, event_types=["job.sent", "job.delivered"])
        assert endpoint.secret.startswith("whsec_")
        job = tm.send_email(configuration, "ann@example.com", "Your receipt", text_body="Thanks!")
        assert isinstance(job, JobRecord) and job.payload.status == "QUEUED"
        done = tm.wait_for(job, {"DELIVERED"}, timeout=60)
        assert done.payload.status == "DELIVERED" and done.payload.message_id
        assert job.e_id in {j.e_id for j in tm.iter_jobs(page_size=1)}
        assert [e.record_type for e in tm.list_job_events(job.e_id).items] == ["Delivery"]
        until(lambda: len(notification_receiver.unique()) == 2)
        events = [verify_notification(endpoint.secret, a.headers, a.body) for a in notification_receiver.unique().values()]
        assert [(e.type, e.job().e_id) for e in events] == [("job.sent", job.e_id), ("job.delivered", job.e_id)]
        # the worker records outcomes a step after the receiver answered: wait for the log to say so
        log = until(lambda: (found := tm.list_notification_deliveries(endpoint.e_id)) and
                    {d.state for d in found.items} == {"delivered"} and found)
        assert log.total == 2 and all(d.last_status_code == 200 for d in log.items)
        again = tm.retry_notification_delivery(endpoint.e_id, log.items[0].e_id)
        assert again.state == "pending"
        tm.delete_notification_endpoint(endpoint.e_id)


def test_the_same_idempotency_key_gives_the_same_job(serve: str, configuration: str) -> None:
    with Client(serve, API_KEY, "acme") as tm:
        first = tm.send(configuration, "bob@example.com", "Hi", text_body="x", idempotency_key="client-key-1")
        second = tm.send(configuration, "bob@example.com", "Hi", text_body="x", idempotency_key="client-key-1")
        assert first.e_id == second.e_id


def test_errors_are_typed_and_carry_the_request_id(serve: str, configuration: str) -> None:
    with Client(serve, API_KEY, "acme") as tm:
        with pytest.raises(NotFound) as missing:
            tm.get_job("00000000-0000-0000-0000-000000000000")
        assert missing.value.status_code == 404 and missing.value.request_id and missing.value.error
        with pytest.raises(BadRequest) as bad:
            tm.create_notification_endpoint("ftp://example.com/x")
        assert "http" in bad.value.message and bad.value.request_id
        with pytest.raises(NotFound):
            tm.send_email("00000000-0000-0000-0000-000000000000", "x@example.com", "s", text_body="t")
    with Client(serve, "wrong-key-0123456789abcdef0123", "acme") as stranger, pytest.raises(Unauthorized):
        stranger.list_jobs()


def test_tags_metadata_search_batch_and_limits(serve: str, configuration: str) -> None:
    with Client(serve, API_KEY, "acme") as tm:
        tagged = tm.send_email(configuration, "cat@example.com", "Order 42 shipped", text_body="x", tag="shipping",
                               metadata={"order": "42"})
        assert tagged.payload.tag == "shipping" and tagged.payload.metadata == {"order": "42"}
        found = tm.list_jobs(tag="shipping", metadata={"order": "42"}, subject="ORDER 42")
        assert [j.e_id for j in found.items] == [tagged.e_id] and found.total_is_lower_bound is False
        assert tm.list_jobs(tag="shipping", metadata={"order": "43"}).items == []
        batch = tm.send_email_batch([
            {"configurationEId": configuration, "recipient": "dan@example.com", "subject": "One", "textBody": "1",
             "idempotencyKey": "client-batch-1"},
            {"configurationEId": configuration, "recipient": "not an address", "subject": "Two", "textBody": "2",
             "idempotencyKey": "client-batch-2"},
        ])
        assert [(r.index, r.status) for r in batch.results] == [(0, 202), (1, 400)]
        assert batch.results[0].e_id and batch.results[1].error and batch.results[1].error.error
        again = tm.send_email_batch([{"configurationEId": configuration, "recipient": "dan@example.com",
                                      "subject": "One", "textBody": "1", "idempotencyKey": "client-batch-1"}])
        assert again.results[0].replayed is True and again.results[0].e_id == batch.results[0].e_id
        limits = tm.set_tenant_limits(sends_per_second=50, burst=100)
        assert (limits.sends_per_second, limits.burst, limits.sends_per_day) == (50, 100, None)
        assert limits.effective.sends_per_second == 50 and limits.effective.sends_per_day >= 1
        assert tm.get_tenant_limits() == limits
        tm.set_tenant_limits()  # back to the defaults
        assert tm.get_tenant_limits().sends_per_second is None


async def test_the_async_client_does_the_same(serve: str, configuration: str) -> None:
    async with AsyncClient(serve, API_KEY, "acme") as tm:
        job = await tm.send_email(configuration, "cy@example.com", "Async", html_body="<p>hi</p>")
        done = await tm.wait_for(job.e_id, {"DELIVERED"}, timeout=60)
        assert done.payload.status == "DELIVERED"
        seen = [j.e_id async for j in tm.iter_jobs(page_size=2, recipient="cy@example.com")]
        assert seen == [job.e_id]
        listed = await tm.list_configurations()
        assert configuration in {c.e_id for c in listed.items}
        assert (await tm.list_suppressions()).total >= 0


@pytest.fixture
def flaky_api() -> Iterator[tuple[str, list[str]]]:
    """A real local server playing the API: 503, then 409 IdempotencyInFlight, then 202."""
    keys: list[str] = []
    answers = [(503, {"error": "ServiceUnavailable", "message": "db", "requestId": "r1"}),
               (409, {"error": "IdempotencyInFlight", "message": "in flight", "requestId": "r2"})]

    async def job(request: Request) -> JSONResponse:
        keys.append(request.headers["idempotency-key"])
        if answers:
            status, body = answers.pop(0)
            return JSONResponse(body, status_code=status)
        payload = {"eId": "j1", "configurationEId": "c", "recipient": "r@example.com", "replyToEmail": None,
                   "fromLocalPart": None, "subject": "s", "status": "QUEUED", "messageId": None, "attempts": 0,
                   "lastError": None, "createdAt": "2026-01-01T00:00:00+00:00", "updatedAt": "2026-01-01T00:00:00+00:00"}
        return JSONResponse({"eId": "j1", "rId": "r", "asOf": {"effectiveFrom": 1, "recordedFrom": 1},
                             "payload": payload, "metadata": {"tenantId": "t", "author": "a"}}, status_code=202)

    http = ThreadedUvicorn(Starlette(routes=[Route("/v1/shop-access/email/job", job, methods=["POST"])])).start()
    yield http.base_url, keys
    http.stop()


def test_send_retries_503_and_in_flight_with_the_same_key(flaky_api: tuple[str, list[str]]) -> None:
    base, keys = flaky_api
    with Client(base, API_KEY, "t", retry=RetryPolicy(attempts=3, base_seconds=0.01)) as tm:
        job = tm.send_email("c", "r@example.com", "s", text_body="t")
    assert job.e_id == "j1" and len(keys) == 3 and len(set(keys)) == 1 and keys[0].startswith("tmc-")


def test_send_gives_up_after_its_attempts(flaky_api: tuple[str, list[str]]) -> None:
    base, keys = flaky_api
    with Client(base, API_KEY, "t", retry=RetryPolicy(attempts=1)) as tm, pytest.raises(ServiceUnavailable) as raised:
        tm.send_email("c", "r@example.com", "s", text_body="t", idempotency_key="mine")
    assert raised.value.request_id == "r1" and keys == ["mine"]
