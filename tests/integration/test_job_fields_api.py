"""SPEC §17 "Job fields" over HTTP on both databases: ``tag`` and ``metadata`` on ``POST /job``
(validated, stored, shown) and the ``GET /job`` search filters (unknown parameters refused)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from tenantmail.bootstrap import Container
from tenantmail.domain.job import JobStatus
from tenantmail.domain.job_search import JobSearch
from tests.helpers import send_body, sendable_configuration

pytestmark = pytest.mark.usefixtures("engine")  # each test starts on empty tables


async def post(api: httpx.AsyncClient, body: dict, key: str) -> httpx.Response:
    return await api.post("/job", json=body, headers={"Idempotency-Key": key})


def spec_error(answer: httpx.Response, status: int) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) >= {"error", "message", "requestId"} and body["requestId"]
    return body


async def test_tag_and_metadata_are_stored_and_shown(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "fields")
    metadata = {f"k{i}": "v" * 80 for i in range(8)}
    accepted = await post(api, send_body(config.e_id, tag="t" * 1000, metadata=metadata), "f-1")
    assert accepted.status_code == 202, accepted.text
    payload = accepted.json()["payload"]
    assert payload["tag"] == "t" * 1000 and payload["metadata"] == metadata and payload["htmlSanitized"] is False
    read = (await api.get(f"/job/{payload['eId']}")).json()["payload"]
    assert read["tag"] == "t" * 1000 and read["metadata"] == metadata
    plain = (await post(api, send_body(config.e_id), "f-2")).json()["payload"]
    assert plain["tag"] is None and plain["metadata"] == {}


async def test_tag_and_metadata_are_part_of_the_idempotent_request(
    api: httpx.AsyncClient, app_container: Container,
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "fieldkeys")
    first = await post(api, send_body(config.e_id, tag="a", metadata={"order": "1"}), "i-1")
    assert (await post(api, send_body(config.e_id, tag="a", metadata={"order": "1"}), "i-1")).json() == first.json()
    assert (await post(api, send_body(config.e_id, tag="b", metadata={"order": "1"}), "i-1")).status_code == 422
    assert (await post(api, send_body(config.e_id, tag="a", metadata={"order": "2"}), "i-1")).status_code == 422


@pytest.mark.parametrize("fields", [
    {"tag": "t" * 1001},
    {"tag": ""},
    {"tag": "   "},
    {"tag": "line\nbreak"},
    {"tag": "nul\x00"},
    {"tag": "del\x7f"},
    {"tag": "sep\u2028"},  # the one header-text rule (domain/header_text.py): C0, DEL, U+2028/9
    {"tag": 5},
    {"metadata": {f"k{i}": "v" for i in range(9)}},
    {"metadata": {"k" * 21: "v"}},
    {"metadata": {"k": "v" * 81}},
    {"metadata": {"tm_job": "forged"}},
    {"metadata": {"TM_Anything": "x"}},
    {"metadata": {"": "v"}},
    {"metadata": {"k": "a\rb"}},
    {"metadata": {"k\t": "v"}},
    {"metadata": {"k": 1}},
    {"metadata": {"k": None}},
    {"metadata": ["k", "v"]},
], ids=lambda f: repr(f)[:40])
async def test_bad_tags_and_metadata_are_400_and_store_nothing(
    api: httpx.AsyncClient, app_container: Container, fields: dict,
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "badfields")
    spec_error(await post(api, send_body(config.e_id, **fields), "b-1"), 400)
    assert (await api.get("/job")).json()["total"] == 0
    # the key stays free: nothing was recorded for it
    assert (await post(api, send_body(config.e_id), "b-1")).status_code == 202


async def test_every_filter_narrows_the_search(
    api: httpx.AsyncClient, app_container: Container, client_for: Callable[[str], httpx.AsyncClient],
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "search")
    sends = [
        (config, "a@example.com", "Welcome aboard, Ada", "welcome", {"plan": "pro", "region": "eu"}),
        (config, "b@example.com", "Your invoice 100%_done", "invoice", {"plan": "pro"}),
        (config, "c@example.com", "WELCOME back", "welcome", {"plan": "free"}),
        (config, "d@example.com", "Password reset", None, {}),
    ]
    ids = []
    for i, (cfg, to, subject, tag, metadata) in enumerate(sends):
        body = send_body(cfg.e_id, recipient=to, subject=subject, metadata=metadata)
        if tag:
            body["tag"] = tag
        answer = await post(api, body, f"s-{i}")
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["eId"])
    async with app_container.ctx.uow("tenant-a") as uow:  # one of them sent, with a MessageID
        job = await uow.jobs.get(ids[1])
        job.mark_sent("msg-0001", app_container.ctx.clock())
        await uow.jobs.save(job)
        await uow.commit()

    async def found(**params: object) -> list[str]:
        answer = await api.get("/job", params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert page["total"] == len(page["items"])
        return sorted(ids.index(item["eId"]) for item in page["items"])

    assert await found(tag="welcome") == [0, 2]
    assert await found(tag="welcome", configurationEId=config.e_id) == [0, 2]
    assert await found(tag="welcome", configurationEId="00000000-0000-0000-0000-000000000000") == []
    assert await found(**{"metadata.plan": "pro"}) == [0, 1]
    assert await found(**{"metadata.plan": "pro", "metadata.region": "eu"}) == [0]
    assert await found(**{"metadata.plan": "enterprise"}) == []
    assert await found(subject="welcome") == [0, 2]  # contains, any case
    assert await found(subject="100%_") == [1]  # LIKE's wildcards are literal
    assert await found(subject="%") == [1]
    assert await found(subject="_") == [1]
    assert await found(messageId="msg-0001") == [1]
    assert await found(recipient="D@Example.com") == [3]
    assert await found(status=["SENT"]) == [1]
    assert await found(status=["SENT", "QUEUED"]) == [0, 1, 2, 3]
    now = app_container.ctx.clock()
    assert await found(createdFrom=(now - timedelta(hours=1)).isoformat(), createdTo=(now + timedelta(hours=1)).isoformat()) == [0, 1, 2, 3]
    assert await found(createdFrom=(now + timedelta(hours=1)).isoformat()) == []
    async with client_for("tenant-b") as stranger:
        assert (await stranger.get("/job", params={"tag": "welcome"})).json()["total"] == 0
    assert (await api.get("/job")).json()["totalIsLowerBound"] is False
    async with app_container.ctx.uow("tenant-a") as uow:  # counting stops one past the bound
        assert (await uow.jobs.list(JobSearch(), limit=1, count_up_to=2))[1] == 3
        assert (await uow.jobs.list(JobSearch(), limit=1, count_up_to=None))[1] == 4


@pytest.mark.parametrize(("params", "named"), [
    ({"subjectt": "x"}, "subjectt"),
    ({"tag": "a", "foo": "1", "bar": "2"}, "foo, bar"),
    ({"metadata": "x"}, "metadata"),
    ({"metadata.": "x"}, "metadata."),
    ({"Status": "QUEUED"}, "Status"),
])
async def test_unknown_search_parameters_are_400_naming_them(api: httpx.AsyncClient, params: dict, named: str) -> None:
    body = spec_error(await api.get("/job", params=params), 400)
    assert f"unknown query parameter(s): {named};" in body["message"]


@pytest.mark.parametrize("params", [
    {"tag": "t" * 1001},
    {"tag": "a\nb"},
    {"metadata.tm_job": "x"},
    {"metadata." + "k" * 21: "x"},
    {"metadata.k": "v" * 81},
    {"subject": ""},
    {"subject": "a\x00"},
    {"messageId": "m" * 65},
    {"recipient": "not-an-address"},
    {"status": "LOST"},
    {"createdFrom": "yesterday"},
    {"createdFrom": "2026-01-02T00:00:00Z", "createdTo": "2026-01-01T00:00:00Z"},
], ids=lambda p: repr(p)[:40])
async def test_malformed_filters_are_400(api: httpx.AsyncClient, params: dict) -> None:
    spec_error(await api.get("/job", params=params), 400)


async def test_a_metadata_filter_given_twice_is_400(api: httpx.AsyncClient) -> None:
    body = spec_error(await api.get("/job?metadata.plan=a&metadata.plan=b"), 400)
    assert "metadata.plan" in body["message"]


def test_statuses_are_the_job_statuses() -> None:  # the search enumerates them; keep the test honest
    assert {s.value for s in JobStatus} >= {"QUEUED", "SENT"}
