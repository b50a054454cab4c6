"""SPEC §17 "HTML hardening" over HTTP on both databases: ``reject`` (default) answers 400 naming what
would be removed and stores nothing; ``sanitize`` queues the cleaned HTML and the job says so."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tenantmail.bootstrap import Container
from tests.helpers import send_body, sendable_configuration

pytestmark = pytest.mark.usefixtures("engine")  # each test starts on empty tables
TEMPLATE = (Path(__file__).parents[1] / "unit" / "html_corpus" / "welcome.html").read_text()


async def post(api: httpx.AsyncClient, body: dict, key: str) -> httpx.Response:
    return await api.post("/job", json=body, headers={"Idempotency-Key": key})


@pytest.mark.parametrize("html", [
    "<p>Hi</p><script>alert(1)</script>",
    '<img src="x" onerror="alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    '<iframe src="https://evil.example"></iframe>',
    '<form action="https://evil.example"><input name="p"></form>',
    '<div style="position: fixed">x</div>',
    "<!--><script>alert(1)</script>-->",
])
async def test_unsafe_html_is_400_naming_it_and_stores_nothing(
    api: httpx.AsyncClient, app_container: Container, html: str,
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "htmlreject")
    answer = await post(api, send_body(config.e_id, htmlBody=html), "h-1")
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "ValidationError" and body["requestId"]
    assert body["message"].startswith("htmlBody has markup the sanitizer would remove: ") and body["details"]["removed"]
    assert (await api.get("/job")).json()["total"] == 0
    assert (await post(api, send_body(config.e_id, htmlBody="<p>Hi</p>"), "h-1")).status_code == 202  # key unused


async def test_a_real_template_is_queued_byte_for_byte(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "htmltemplate")
    answer = await post(api, send_body(config.e_id, htmlBody=TEMPLATE), "h-2")
    assert answer.status_code == 202 and answer.json()["payload"]["htmlSanitized"] is False
    async with app_container.ctx.uow("tenant-a") as uow:
        assert (await uow.jobs.get(answer.json()["eId"])).html_body == TEMPLATE


async def test_sanitize_queues_the_cleaned_html_and_records_it(api: httpx.AsyncClient, app_container: Container) -> None:
    object.__setattr__(app_container, "settings", app_container.settings.model_copy(update={"html_policy": "sanitize"}))
    config = await sendable_configuration(app_container, "tenant-a", "htmlsanitize")
    answer = await post(api, send_body(config.e_id, htmlBody='<p onclick="x()">Hi</p><script>alert(1)</script>'), "h-3")
    assert answer.status_code == 202 and answer.json()["payload"]["htmlSanitized"] is True
    async with app_container.ctx.uow("tenant-a") as uow:
        job = await uow.jobs.get(answer.json()["eId"])
    assert job.html_body == "<p>Hi</p>" and job.html_sanitized
    assert (await api.get(f"/job/{job.e_id}")).json()["payload"]["htmlSanitized"] is True
    clean = await post(api, send_body(config.e_id, htmlBody=TEMPLATE), "h-4")
    assert clean.json()["payload"]["htmlSanitized"] is False
