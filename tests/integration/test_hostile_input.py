"""Hostile input never costs more than a 4xx (SPEC §14), on both databases, through the fast lane
and through the FastAPI app alone: body limits while reading, JSON nesting, header text and NUL,
numbers and moments the databases cannot hold, and the keep-alive connection survives each.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tenantmail.bootstrap import Container
from tenantmail.domain.bounds import MAX_OFFSET
from tenantmail.entrypoints.api.app import create_app
from tests import webhook_support as pm
from tests.app_fixtures import TEST_API_KEY
from tests.webhook_support import Seeded, seed

WEBHOOK = "/job/postmark-events"
MiB = 1024 * 1024


@pytest.fixture(params=[True, False], ids=["fast-lane", "fastapi-only"])
async def client(request: pytest.FixtureRequest, engine, app_container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container=app_container, fast_lane=request.param)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://tenantmail.test" + app_container.settings.api_prefix,
        headers={"Authorization": f"Bearer {TEST_API_KEY}", "X-Tenant-Id": "tenant-a", "X-Author": "tests"},
        timeout=60,
    ) as http:
        yield http


@pytest.fixture
async def seeded(engine, app_container: Container) -> Seeded:  # engine: start from empty tables
    return await seed(app_container.ctx, "tenant-a")


def assert_error(response: httpx.Response, status: int, kind: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error", "message", "requestId"} and body["requestId"], body
    if kind is not None:
        assert body["error"] == kind, body
    return body


def send(config_eid: str = "c-1", **fields: Any) -> dict[str, Any]:
    return {"configurationEId": config_eid, "recipient": "ann@example.com", "subject": "Hi", "textBody": "x", **fields}


async def post_job(client: httpx.AsyncClient, body: Any, key: str = "k-1") -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post("/job", content=content,
                             headers={"Idempotency-Key": key, "Content-Type": "application/json"})


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


# --- 1. body limits -------------------------------------------------------------------------------


async def test_a_send_over_the_body_limit_is_413(client: httpx.AsyncClient) -> None:
    over = send(textBody="x" * (12 * MiB))
    body = assert_error(await post_job(client, over), 413, "PayloadTooLarge")
    assert str(12 * MiB) in body["message"]


async def test_every_route_has_the_body_limit(client: httpx.AsyncClient) -> None:
    huge = b'{"recipient": "' + b"a" * (12 * MiB) + b'"}'
    for path in ("/configuration", "/suppression"):
        assert_error(await client.post(path, content=huge, headers={"Content-Type": "application/json"}), 413)
    assert (await client.get("/job")).status_code == 200


async def test_the_webhook_checks_credentials_before_its_body_limit(client: httpx.AsyncClient, seeded: Seeded) -> None:
    big = json.dumps({**pm.delivery("m-1", "john@example.com"), "Details": "x" * (2 * MiB)}).encode()
    headers = {"Content-Type": "application/json"}
    assert_error(await client.post(WEBHOOK, content=big, headers=headers, auth=("nobody", "wrong")), 401)
    assert_error(await client.post(WEBHOOK, content=big, headers=headers, auth=seeded.credentials), 413,
                 "PayloadTooLarge")
    small = await client.post(WEBHOOK, json=pm.delivery("m-1", "john@example.com", job=seeded.job.e_id),
                              auth=seeded.credentials)
    assert small.status_code == 200, small.text


# --- 2. JSON nesting -------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [33, 100_000])
async def test_json_nested_deeper_than_32_is_400_on_every_json_route(
    client: httpx.AsyncClient, seeded: Seeded, depth: int,
) -> None:
    raw = nested(depth)
    headers = {"Content-Type": "application/json"}
    assert "32" in assert_error(await post_job(client, raw), 400, "ValidationError")["message"]
    for path in ("/configuration", "/suppression", f"/configuration/{seeded.configuration.e_id}/re-provision"):
        assert_error(await client.post(path, content=raw, headers=headers), 400)
    assert_error(await client.post(WEBHOOK, content=raw, headers=headers, auth=seeded.credentials), 400)


async def test_32_levels_are_not_refused_for_their_depth(client: httpx.AsyncClient) -> None:
    body = send(attachments=[{"filename": "a.txt", "contentType": "text/plain", "contentBase64": "eA=="}])
    ok_depth = json.dumps({**body, "x": json.loads(nested(30))}).encode()  # extra="forbid" rejects x, not its depth
    message = assert_error(await post_job(client, ok_depth), 400)["message"]
    assert "nested" not in message


# --- 3. header text and NUL -------------------------------------------------------------------------

BREAKERS = ["\x00", "\x1b", "\x7f", "\u2028", "\u2029", "\r"]


@pytest.mark.parametrize("char", BREAKERS, ids=lambda c: f"U+{ord(c):04X}")
async def test_header_text_rejects_controls_in_subject_and_from_name(client: httpx.AsyncClient, char: str) -> None:
    assert_error(await post_job(client, send(subject=f"Hello{char}there")), 400, "ValidationError")
    config = {"sendingDomainSlug": "hostile", "signature": {"fromName": f"Acme{char}Shop"}}
    assert_error(await client.post("/configuration", json=config), 400)
    assert (await client.get("/configuration")).json()["total"] == 0  # nothing was created


async def test_bodies_take_tab_cr_lf_but_never_nul(client: httpx.AsyncClient) -> None:
    assert_error(await post_job(client, send(textBody="a\x00b")), 400, "ValidationError")
    assert_error(await post_job(client, send(htmlBody="<p>\x00</p>")), 400, "ValidationError")
    # TAB/CR/LF pass validation: the answer is the configuration's absence, not the text
    assert_error(await post_job(client, send(textBody="a\tb\r\nc")), 404)


@pytest.mark.parametrize("path", [
    "/suppression?recipient=a%00@b.example", "/job?recipient=a%00@b.example", "/job?configurationEId=c%00",
    "/job/x%00y", "/configuration/x%00y", "/job/x%00y/events", "/suppression?recipient=a%E2%80%A8@b.example",
    "/configuration/x%1By/history",
])
async def test_query_and_path_parameters_are_header_text(client: httpx.AsyncClient, path: str) -> None:
    assert_error(await client.get(path), 400, "ValidationError")


# --- 4. numbers and moments the databases cannot hold -----------------------------------------------


@pytest.mark.parametrize("path", ["/job", "/configuration", "/suppression", "/job/j-1/events",
                                  "/configuration/c-1/history"])
async def test_offsets_beyond_64_bits_are_400_and_the_largest_is_an_empty_page(
    client: httpx.AsyncClient, path: str,
) -> None:
    assert_error(await client.get(path, params={"offset": str(2**63)}), 400)
    largest = await client.get(path, params={"offset": str(MAX_OFFSET)})
    assert largest.status_code in (200, 404), largest.text  # 404: the job/configuration does not exist
    if largest.status_code == 200:
        assert largest.json()["items"] == []


@pytest.mark.parametrize("params", [
    {"recordedAsOf": "2e30"}, {"recordedAsOf": str(2**63)}, {"effectiveAsOf": "253402300800000"},
])
async def test_as_of_beyond_year_9999_is_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    assert_error(await client.get("/configuration/c-1", params=params), 400)


@pytest.mark.parametrize("params", [
    {"createdFrom": "0001-01-01T00:00:00+14:00"}, {"createdTo": "9999-12-31T23:00:00-14:00"},
    {"createdTo": "0.5"}, {"createdFrom": "yesterday"},
])
async def test_moments_outside_utc_years_1_to_9999_are_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    assert_error(await client.get("/job", params=params), 400, "ValidationError")
    assert (await client.get("/job", params={"createdFrom": "0001-01-02T00:00:00+14:00"})).status_code == 200


# --- 4. ... and in the CLI -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["jobs", "list"], ["suppression", "list"], ["events"],
                                     ["config", "list"]])
async def test_the_cli_refuses_offsets_beyond_64_bits_in_one_line(engine, app_container: Container,
                                                                   command: list[str]) -> None:
    from tests.integration.test_suppression_cli import tenantmail

    err = await tenantmail(app_container, *command, "--tenant", "tenant-a", "--offset", str(2**63), ok=False)
    assert "offset" in err and "Traceback" not in err
    largest = await tenantmail(app_container, *command, "--tenant", "tenant-a", "--offset", str(MAX_OFFSET), "--json")
    assert largest["items"] == []


async def test_the_cli_refuses_control_characters_in_a_recipient_filter(engine, app_container: Container) -> None:
    from tests.integration.test_suppression_cli import tenantmail

    err = await tenantmail(app_container, "suppression", "list", "--tenant", "tenant-a",
                           "--recipient", "a\x1b@b.example", ok=False)
    assert "control characters" in err and "Traceback" not in err


# --- 8. 405 with a correct Allow on every path ----------------------------------------------------


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("POST", "/configuration/c-1/history", "GET"),
    ("OPTIONS", "/configuration/c-1", "GET, PATCH"),
    ("DELETE", "/configuration/c-1", "GET, PATCH"),
    ("PUT", "/job", "GET, POST"),
    ("GET", "/job/postmark-events", None),  # GET /job/{eId}: a job named so is not found
    ("DELETE", "/job/postmark-events", "POST"),
    ("OPTIONS", "/suppression", "GET, POST"),
    ("GET", "/suppression/a@b.example/remove", "POST"),
])
async def test_other_methods_answer_405_with_every_allowed_method(
    client: httpx.AsyncClient, method: str, path: str, allow: str | None,
) -> None:
    response = await client.request(method, path)
    if allow is None:
        assert_error(response, 404)
        return
    assert_error(response, 405, "MethodNotAllowed")
    assert response.headers["allow"] == allow


# --- 8. the schema forbids what the API refuses, and allows what it takes --------------------------


async def test_what_the_schema_now_says_the_api_does(client: httpx.AsyncClient) -> None:
    attachment = {"filename": "a.txt", "contentType": "text/plain", "contentBase64": ""}
    assert_error(await post_job(client, send(attachments=[attachment])), 400)
    assert_error(await post_job(client, send(replyToEmail="not an address")), 400)
    assert_error(await client.post("/suppression", json={"recipient": ""}), 400)
    assert_error(await client.post("/suppression", json={"recipient": "a\x01@b.example"}), 400)
    ok = await client.get("/job", params={"createdTo": "2026-01-01T00:00:00Z", "createdFrom": "2025-01-01T00:00:00"})
    assert ok.status_code == 200, ok.text


# --- 9. the send API's own routes (#20): batch, search, tenant limits -------------------------------


async def test_a_full_batch_fits_its_own_body_limit_and_beyond_it_is_413(client: httpx.AsyncClient) -> None:
    # 500 messages of ~26 KB: more than one send's 12 MiB limit, within the batch's (Postmark's 50 MB)
    messages = [{**send(textBody="x" * 26_000), "idempotencyKey": f"k-{i}"} for i in range(500)]
    raw = json.dumps({"messages": messages}).encode()
    assert 12 * MiB < len(raw) < 50 * MiB
    answer = await client.post("/job/batch", content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text[:500]
    assert [r["status"] for r in answer.json()["results"]] == [404] * 500  # no configuration c-1: nothing sent
    huge = b'{"messages": [{"textBody": "' + b"x" * (50 * MiB) + b'"}]}'
    assert_error(await client.post("/job/batch", content=huge, headers={"Content-Type": "application/json"}), 413)
    assert (await client.get("/job")).json()["total"] == 0


async def test_the_batch_and_tenant_limits_parse_json_within_bounds(client: httpx.AsyncClient) -> None:
    headers = {"Content-Type": "application/json"}
    for method, path in (("POST", "/job/batch"), ("PUT", "/tenant-limits")):
        answer = assert_error(await client.request(method, path, content=nested(33), headers=headers), 400)
        assert "32" in answer["message"]
    nul = json.dumps({"messages": [{**send(textBody="a\x00b"), "idempotencyKey": "k-1"}]}).encode()
    assert_error(await client.post("/job/batch", content=nul, headers=headers), 400, "ValidationError")


@pytest.mark.parametrize("params", [
    {"tag": "a\x00b"}, {"tag": "a\u2028b"}, {"messageId": "m\x1b"}, {"subject": "s\x7f"},
    {"metadata.k": "v\r"}, {"metadata.k\x01": "v"}, {"configurationEId": "c\u2029"},
])
async def test_job_search_filters_are_header_text(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    assert_error(await client.get("/job", params=params), 400, "ValidationError")


@pytest.mark.parametrize("params", [{"createdFrom": "1767225600000"}, {"createdTo": "1e3"}])
async def test_job_search_moments_are_iso_strings_never_numbers(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    assert "ISO 8601" in assert_error(await client.get("/job", params=params), 400, "ValidationError")["message"]


@pytest.mark.parametrize("lone", [b"\\ud800", b"\\uDFFF", b"\xed\xa0\x80"], ids=["escaped", "escaped-low", "raw-bytes"])
@pytest.mark.parametrize("field", ["subject", "textBody", "htmlBody", "tag"])
async def test_a_lone_surrogate_is_400_never_a_500(client: httpx.AsyncClient, field: str, lone: bytes) -> None:
    # half of a UTF-16 pair is not text: no database or mail header can encode it (it was a 500)
    raw = json.dumps({k: v for k, v in send().items() if k != field}).encode()[:-1]
    raw += b', "' + field.encode() + b'": "a' + lone + b'b"}'
    assert_error(await post_job(client, raw), 400, "ValidationError")


async def test_a_surrogate_pair_is_one_character_and_accepted(client: httpx.AsyncClient) -> None:
    raw = json.dumps(send(subject="Party \U0001f389")).encode()  # escaped as \ud83c\udf89
    assert b"\\ud83c\\udf89" in raw
    assert_error(await post_job(client, raw), 404, "NotFound")  # past validation: the configuration is unknown
