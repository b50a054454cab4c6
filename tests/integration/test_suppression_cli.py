"""``tenantmail suppression`` and ``tenantmail events`` against a real database, as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tenantmail.bootstrap import Container
from tests import webhook_support as pm
from tests.app_fixtures import TEST_API_KEY
from tests.webhook_support import seed

CLI = str(Path(sys.executable).with_name("tenantmail"))


async def tenantmail(app: Container, *args: str, ok: bool = True) -> Any:
    env = {
        **os.environ, "TENANTMAIL_DATABASE_URL": app.settings.database_url,
        "TENANTMAIL_POSTMARK_BASE_URL": app.sandbox.base_url if app.sandbox else "",
        "TENANTMAIL_API_KEYS": TEST_API_KEY, "TENANTMAIL_MAIL_ZONE_ID": app.zone_id,
        "TENANTMAIL_KEY_REGISTRY_FILE": str(app.registry.path), "TENANTMAIL_VAR_DIR": str(app.settings.var_dir),
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    }
    proc = await asyncio.create_subprocess_exec(CLI, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert (proc.returncode == 0) is ok, err.decode()
    return json.loads(out) if ok else err.decode()


@pytest.fixture
async def server_token(engine, app_container: Container) -> str:  # engine: empty tables
    server = await app_container.ctx.postmark.account.create_server("ardamails-dev-cli", delivery_type="Sandbox")
    await seed(app_container.ctx, "tenant-a", server_id=server.server_id, token=server.api_token)
    return server.api_token


async def test_suppression_add_list_remove(app_container: Container, server_token: str) -> None:
    added = await tenantmail(app_container, "suppression", "add", "Zoe@Example.com", "--tenant", "tenant-a", "--json")
    assert (added["recipient"], added["origin"]) == ("zoe@example.com", "operator")
    listed = await tenantmail(app_container, "suppression", "list", "--tenant", "tenant-a", "--json")
    assert [i["recipient"] for i in listed["items"]] == ["zoe@example.com"]
    await tenantmail(app_container, "suppression", "remove", "zoe@example.com", "--tenant", "tenant-a", "--json")
    assert (await tenantmail(app_container, "suppression", "list", "--tenant", "tenant-a", "--json"))["total"] == 0
    error = await tenantmail(app_container, "suppression", "remove", "zoe@example.com", "--tenant", "tenant-a", ok=False)
    assert "NotFound" in error


async def test_events_of_a_tenant_and_of_a_job(api, app_container: Container) -> None:  # type: ignore[no-untyped-def]
    seeded = await seed(app_container.ctx, "tenant-b")
    job = seeded.job
    for body in (pm.delivery(job.message_id, job.recipient, job=job.e_id), pm.delivery("other", "x@y.z")):
        assert (await api.post("/job/postmark-events", json=body, auth=seeded.credentials)).status_code == 200
    everything = await tenantmail(app_container, "events", "--tenant", "tenant-b", "--json")
    assert everything["total"] == 2
    of_job = await tenantmail(app_container, "events", "--tenant", "tenant-b", "--job", job.e_id, "--json")
    assert [e["jobEId"] for e in of_job["items"]] == [job.e_id]
