"""The fast lane (entrypoints/api/fast_lane.py) answers ``POST /job`` and the webhook exactly as
the FastAPI routes it stands in for: same status, same body, same headers, for good requests and
for every kind of bad one, in the same order of checks — but one, tested on its own: the lane
checks the caller before it decodes the body."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tenantmail.bootstrap import Container
from tenantmail.entrypoints.api.app import create_app
from tests import webhook_support as pm
from tests.app_fixtures import TEST_API_KEY
from tests.helpers import send_body
from tests.webhook_support import seed

WEBHOOK = "/job/postmark-events"
#: Values that differ between two answers to the same request by design.
GENERATED = {"requestId", "eId", "rId", "asOf", "jobEId", "createdAt", "updatedAt"}
COMPARED_HEADERS = ("content-type", "www-authenticate", "idempotent-replayed", "retry-after")


@pytest.fixture
async def lanes(engine, app_container: Container) -> AsyncIterator[dict[str, httpx.AsyncClient]]:  # type: ignore[no-untyped-def]
    """The same Container behind the fast lane and behind FastAPI alone (engine: from empty tables)."""
    clients = {
        name: httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(container=app_container, fast_lane=on)),
                                base_url="http://tenantmail.test" + app_container.settings.api_prefix)
        for name, on in (("lane", True), ("reference", False))
    }
    yield clients
    for client in clients.values():
        await client.aclose()


def _normalized(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<generated>" if k in GENERATED and v is not None else _normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


def _answer(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    assert response.headers.get_list("x-request-id") and len(response.headers.get_list("x-request-id")) == 1
    body = _normalized(response.json()) if response.content else None
    return response.status_code, body, {h: response.headers[h] for h in COMPARED_HEADERS if h in response.headers}


def _auth(tenant: str = "tenant-a", **override: str | None) -> dict[str, str]:
    """The caller's headers; ``override`` replaces one, or drops it when None."""
    headers = {"Authorization": f"Bearer {TEST_API_KEY}", "X-Tenant-Id": tenant, "X-Author": "tests",
               "Content-Type": "application/json"}
    for name, value in override.items():
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return headers


def _send_cases(config_e_id: str) -> dict[str, tuple[dict[str, Any], bytes]]:
    """name → (headers, body). A fresh Idempotency-Key is added per request unless the case sets one."""
    good = json.dumps(send_body(config_e_id)).encode()
    return {
        "accepted": (_auth(), good),
        "json subtype accepted": (_auth(**{"Content-Type": "application/vnd.api+json"}), good),
        "no bearer": (_auth(Authorization=None), good),
        "wrong bearer": (_auth(Authorization="Bearer nope"), good),
        "basic instead of bearer": (_auth(Authorization="Basic dXNlcjpwdw=="), good),
        "no tenant": (_auth(**{"X-Tenant-Id": None}), good),
        "bad tenant": (_auth(tenant="a b"), good),
        "author too long": (_auth(**{"X-Author": "x" * 300}), good),
        "wrong bearer beats an invalid field": (_auth(Authorization="Bearer nope"), b'{"recipient": 1}'),
        "bad tenant beats an invalid field": (_auth(tenant="a b"), b'{"recipient": 1}'),
        "empty body": (_auth(), b""),
        "no content type": (_auth(**{"Content-Type": None}), good),
        "text/plain": (_auth(**{"Content-Type": "text/plain"}), good),
        "invalid json": (_auth(), b'{"recipient": '),
        "not utf-8": (_auth(), b'{"recipient": "\xff\xfe"}'),
        "json array": (_auth(), b"[1, 2]"),
        "unknown field": (_auth(), json.dumps(send_body(config_e_id, bcc="x@example.com")).encode()),
        "no recipient": (_auth(), json.dumps({k: v for k, v in send_body(config_e_id).items()
                                              if k != "recipient"}).encode()),
        "bad recipient": (_auth(), json.dumps(send_body(config_e_id, recipient="not-an-address")).encode()),
        "subject with a line break": (_auth(), json.dumps(send_body(config_e_id, subject="a\r\nBcc: x")).encode()),
        "no body text": (_auth(), json.dumps({k: v for k, v in send_body(config_e_id).items()
                                              if k != "textBody"}).encode()),
        "bad attachment": (_auth(), json.dumps(send_body(config_e_id, attachments=[
            {"filename": "a.exe", "contentType": "application/x-msdownload", "contentBase64": "AAAA"}])).encode()),
        "no idempotency key": (_auth(**{"Idempotency-Key": ""}), good),
        "unknown configuration": (_auth(), json.dumps(send_body(str(uuid.uuid4()))).encode()),
        "another tenant's configuration": (_auth(tenant="tenant-b"), good),
    }


async def test_post_job_answers_as_the_route_does_for_every_kind_of_request(
    app_container: Container, lanes: dict[str, httpx.AsyncClient],
) -> None:
    seeded = await seed(app_container.ctx, "tenant-a")
    for name, (headers, body) in _send_cases(seeded.configuration.e_id).items():
        answers = {}
        for lane, client in lanes.items():
            sent = {"Idempotency-Key": uuid.uuid4().hex, **headers}
            answers[lane] = _answer(await client.post("/job", content=body, headers=sent))
        assert answers["lane"] == answers["reference"], name


async def test_the_lane_checks_the_caller_before_it_decodes_the_body(
    app_container: Container, lanes: dict[str, httpx.AsyncClient],
) -> None:
    """The one deliberate difference: FastAPI decodes a JSON body before it runs dependencies, so
    its route answers 400 to an unauthenticated caller with broken JSON; the lane answers 401 (as
    the webhook does: credentials before the body), and 400 only to an authenticated caller."""
    lane = lanes["lane"]
    for headers, expected in ((_auth(Authorization="Bearer nope"), 401), (_auth(tenant="a b"), 400),
                              (_auth(), 400)):
        answer = await lane.post("/job", content=b"{", headers={**headers, "Idempotency-Key": "k"})
        assert answer.status_code == expected
        assert (answer.json()["error"] == "ValidationError") is (expected == 400 and headers == _auth())
    reference = await lanes["reference"].post("/job", content=b"{", headers=_auth(Authorization="Bearer nope"))
    assert reference.status_code == 400


async def test_a_replay_answers_as_the_route_does(app_container: Container, lanes: dict[str, httpx.AsyncClient]) -> None:
    seeded = await seed(app_container.ctx, "tenant-a")
    answers = {}
    for lane, client in lanes.items():
        key, body = uuid.uuid4().hex, json.dumps(send_body(seeded.configuration.e_id)).encode()
        await client.post("/job", content=body, headers={**_auth(), "Idempotency-Key": key})
        replay = await client.post("/job", content=body, headers={**_auth(), "Idempotency-Key": key})
        other = await client.post("/job", content=body.replace(b"Your order", b"Other"),
                                  headers={**_auth(), "Idempotency-Key": key})
        answers[lane] = [_answer(replay), _answer(other)]
    assert answers["lane"] == answers["reference"]
    assert answers["lane"][0][2]["idempotent-replayed"] == "true" and answers["lane"][1][0] == 422


async def test_the_webhook_answers_as_the_route_does(app_container: Container, lanes: dict[str, httpx.AsyncClient]) -> None:
    answers: dict[str, list[tuple[int, Any, dict[str, str]]]] = {}
    for lane, client in lanes.items():
        seeded = await seed(app_container.ctx, f"tenant-{lane}")  # a job each: one event twice is a duplicate
        event = pm.delivery(seeded.job.message_id or "", "john@example.com", job=seeded.job.e_id)
        answers[lane] = [_answer(r) for r in [
            await client.post(WEBHOOK, json=event, auth=seeded.credentials),
            await client.post(WEBHOOK, json=event, auth=seeded.credentials),  # duplicate
            await client.post(WEBHOOK, json=event, auth=(seeded.configuration.e_id, "wrong")),
            await client.post(WEBHOOK, json=event),  # no credentials
            await client.post(WEBHOOK, content=b"{not json", auth=seeded.credentials),
            await client.post(WEBHOOK, json={**event, "ServerID": 1}, auth=seeded.credentials),
        ]]
    assert answers["lane"] == answers["reference"]
    assert [status for status, _, _ in answers["lane"]] == [200, 200, 401, 401, 400, 401]


async def test_other_methods_and_paths_pass_through_to_the_app(lanes: dict[str, httpx.AsyncClient]) -> None:
    for lane, client in lanes.items():
        assert (await client.get("/job/postmark-events", headers=_auth())).status_code in (404, 405), lane
        assert (await client.put("/job", headers=_auth())).status_code == 405, lane
        assert (await client.post("/job/", headers=_auth())).status_code in (307, 404, 405), lane
