"""``tenantmail config ...`` as an operator runs it: a real process on the test's database and sandbox."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tenantmail.bootstrap import Container
from tenantmail.services.poll_verification import check_verification
from tenantmail.services.provision_configuration import provision_claimed
from tests.helpers import postmark_leftovers, process_env

pytestmark = pytest.mark.usefixtures("engine")
CLI = str(Path(sys.executable).with_name("tenantmail"))


async def config_cli(app: Container, *args: str, ok: bool = True) -> tuple[Any, str]:
    """Run ``tenantmail config <args> --tenant tenant-a --json``; return (its JSON, stderr).
    Under ``--json`` an error is JSON too: ``{"error", "message"}`` on stdout."""
    proc = await asyncio.create_subprocess_exec(
        CLI, "config", *args, "--tenant", "tenant-a", "--json", env=process_env(app),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert (proc.returncode == 0) is ok, err.decode()
    text = out.decode()
    return json.loads(text[text.index("{"):]), err.decode()


async def test_an_operator_takes_a_configuration_through_its_lifecycle_from_the_cli(app_container: Container) -> None:
    slug = f"cli{uuid.uuid4().hex[:8]}"
    created, _ = await config_cli(app_container, "create", "--slug", slug, "--from-name", "Acme", "--author", "ops")
    e_id = created["eId"]
    assert created["payload"]["signature"]["fromEmail"] == f"noreply@{slug}.dev.ardamails.com"
    assert created["metadata"]["author"] == "ops"

    provisioning, _ = await config_cli(app_container, "provision", e_id)
    assert provisioning["payload"]["operationalStatus"] == "PROVISIONING"
    await provision_claimed(app_container.ctx)  # what a worker does
    await check_verification(app_container.ctx, "tenant-a", e_id)

    assert (await config_cli(app_container, "unlock", e_id))[0]["payload"]["sendable"] is True
    listed, _ = await config_cli(app_container, "list", "--operational", "OK")
    assert [item["eId"] for item in listed["items"]] == [e_id]
    await config_cli(app_container, "lock", e_id)
    removed, _ = await config_cli(app_container, "remove", e_id)
    assert removed["payload"]["operationalStatus"] == "REMOVED"
    assert await postmark_leftovers(app_container, f"{slug}.dev.ardamails.com") == {
        "servers": [], "signatures": [], "records": []}

    history, _ = await config_cli(app_container, "history", e_id)
    assert [v["signal"] for v in history["items"]] == [
        "create", "provision", "provisioning:createServer", "provisioning:createSignature",
        "provisioning:installWebhook", "provisioning:writeRecords", "verification:verified",
        "unlock", "lock", "remove",
    ]
    error, _ = await config_cli(app_container, "unlock", e_id, ok=False)
    assert error["error"] == "IllegalSignal" and "REMOVED" in error["message"]


async def test_domain_authentication_allow_list_and_migration_from_the_cli(app_container: Container) -> None:
    slug = f"cli{uuid.uuid4().hex[:8]}"
    created, _ = await config_cli(app_container, "create", "--slug", slug, "--from-name", "Acme",
                                  "--from-local-part", "billing", "--authentication", "domain",
                                  "--allow-from", "billing", "--allow-from", "orders")
    assert (created["payload"]["authentication"], created["payload"]["allowedFromLocalParts"]) == (
        "domain", ["billing", "orders"])
    edited, _ = await config_cli(app_container, "edit", created["eId"], "--allow-from", "billing",
                                 "--author", "ops:dan")
    assert (edited["payload"]["allowedFromLocalParts"], edited["metadata"]["author"]) == (["billing"], "ops:dan")
    error, _ = await config_cli(app_container, "edit", created["eId"], "--allow-from", "orders", ok=False)
    assert "must include" in error["message"]

    signature, _ = await config_cli(app_container, "create", "--slug", f"s{slug}", "--from-name", "Acme")
    await config_cli(app_container, "provision", signature["eId"])
    await provision_claimed(app_container.ctx)
    await check_verification(app_container.ctx, "tenant-a", signature["eId"])
    migrated, _ = await config_cli(app_container, "re-provision", signature["eId"], "--authentication", "domain")
    assert (migrated["payload"]["authentication"], migrated["payload"]["operationalStatus"]) == (
        "domain", "PROVISIONING")
