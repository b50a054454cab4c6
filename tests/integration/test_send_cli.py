"""``tenantmail jobs list/show`` against a real database, as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import httpx
import pytest

from tenantmail.bootstrap import Container
from tests.app_fixtures import TEST_API_KEY
from tests.helpers import send_body, sendable_configuration

pytestmark = pytest.mark.usefixtures("engine")  # each test starts on empty tables

CLI = str(Path(sys.executable).with_name("tenantmail"))


async def tenantmail(app: Container, *args: str) -> dict:
    env = {
        **os.environ, "TENANTMAIL_DATABASE_URL": app.settings.database_url,
        "TENANTMAIL_POSTMARK_BASE_URL": app.sandbox.base_url if app.sandbox else "",
        "TENANTMAIL_API_KEYS": TEST_API_KEY, "TENANTMAIL_MAIL_ZONE_ID": app.zone_id,
        "TENANTMAIL_KEY_REGISTRY_FILE": str(app.registry.path), "TENANTMAIL_VAR_DIR": str(app.settings.var_dir),
    }
    proc = await asyncio.create_subprocess_exec(CLI, *args, "--json", env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    return json.loads(text[text.index("{\n"):])  # log lines of start-up may precede the JSON


async def test_jobs_list_and_show_print_the_tenants_jobs(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "cli")
    e_id = (await api.post("/job", json=send_body(config.e_id), headers={"Idempotency-Key": "c-1"})).json()["eId"]

    listed = await tenantmail(app_container, "jobs", "list", "--tenant", "tenant-a", "--status", "QUEUED")
    assert [item["eId"] for item in listed["items"]] == [e_id] and listed["total"] == 1
    shown = await tenantmail(app_container, "jobs", "show", e_id, "--tenant", "tenant-a")
    assert shown["payload"]["recipient"] == "customer@example.com"
    other = await tenantmail(app_container, "jobs", "list", "--tenant", "tenant-b")
    assert other["total"] == 0


async def test_jobs_send_and_list_take_tags_and_metadata(api: httpx.AsyncClient, app_container: Container) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "clitags")
    sent = await tenantmail(app_container, "jobs", "send", "--tenant", "tenant-a", "--configuration", config.e_id,
                            "--to", "a@example.com", "--subject", "Welcome Ada", "--text", "hi",
                            "--tag", "welcome", "--metadata", "plan=pro", "--metadata", "region=eu")
    assert sent["payload"]["tag"] == "welcome" and sent["payload"]["metadata"] == {"plan": "pro", "region": "eu"}
    await api.post("/job", json=send_body(config.e_id, tag="invoice"), headers={"Idempotency-Key": "c-2"})

    by_tag = await tenantmail(app_container, "jobs", "list", "--tenant", "tenant-a", "--tag", "welcome")
    assert [item["eId"] for item in by_tag["items"]] == [sent["eId"]]
    by_metadata = await tenantmail(app_container, "jobs", "list", "--tenant", "tenant-a", "--metadata", "plan=pro",
                                   "--subject", "welcome")
    assert [item["eId"] for item in by_metadata["items"]] == [sent["eId"]]


async def test_a_reserved_metadata_key_is_a_one_line_error(app_container: Container) -> None:
    proc = await asyncio.create_subprocess_exec(
        CLI, "jobs", "list", "--tenant", "tenant-a", "--metadata", "tm_job=x",
        env={**os.environ, "TENANTMAIL_DATABASE_URL": app_container.settings.database_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode != 0 and "reserved" in err.decode().strip().splitlines()[-1]


async def test_limits_set_and_show_a_tenants_quotas(app_container: Container) -> None:
    changed = await tenantmail(app_container, "limits", "set", "--tenant", "tenant-a", "--per-second", "5",
                               "--burst", "10", "--author", "ops")
    assert changed["sendsPerSecond"] == 5 and changed["burst"] == 10 and changed["sendsPerDay"] is None
    assert changed["effective"]["sendsPerDay"] == app_container.settings.quota_sends_per_day
    shown = await tenantmail(app_container, "limits", "show", "--tenant", "tenant-a")
    assert shown == changed and shown["updatedBy"] == "ops"
