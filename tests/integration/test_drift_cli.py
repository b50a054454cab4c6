"""``tenantmail drift`` and ``tenantmail keys`` as an operator runs them (a real process, real sandbox)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from tenantmail.bootstrap import Container
from tests.drift_support import expected_records, provisioned
from tests.helpers import process_env

CLI = str(Path(sys.executable).with_name("tenantmail"))
pytestmark = [pytest.mark.usefixtures("engine"),  # engine: empty tables
              pytest.mark.slow]  # every command is a fresh process


async def tenantmail(app: Container, *args: str, **overrides: str) -> tuple[int, str]:
    env = {**process_env(app), "TENANTMAIL_LOG_LEVEL": "ERROR", **overrides}
    proc = await asyncio.create_subprocess_exec(CLI, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode() + err.decode()


def parsed(output: str) -> dict:
    return json.loads(output[output.index("{\n"):output.rindex("}") + 1])


async def test_drift_exits_0_when_clean_and_1_with_the_findings_in_json(app_container: Container) -> None:
    config = await provisioned(app_container, "acme")
    code, output = await tenantmail(app_container, "drift", "--json")
    assert code == 0 and parsed(output)["status"] == "clean"

    await app_container.ctx.dns.delete_records(expected_records(config)[:1])
    code, output = await tenantmail(app_container, "drift", "--json")
    report = parsed(output)
    assert code == 1 and report["counts"]["dns_missing_record"] == 1
    assert [(d["tag"], d["configurationEId"]) for d in report["discrepancies"]] == [("dns_missing_record", config.e_id)]

    code, output = await tenantmail(app_container, "drift", "last")
    assert code == 1 and "dns_missing_record" in output and "drift" in output


async def test_drift_exits_2_when_it_cannot_run(app_container: Container) -> None:
    unreachable = {"TENANTMAIL_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"}
    code, output = await tenantmail(app_container, "drift", "--json", **unreachable)
    assert code == 2 and json.loads(output.splitlines()[0])["error"] == "DatabaseUnavailable"


async def test_keys_rotate_sweep_and_remove_version(app_container: Container) -> None:
    await provisioned(app_container, "acme")
    old = app_container.registry.current_version

    code, output = await tenantmail(app_container, "keys", "rotate", "--json")
    assert code == 0 and parsed(output)["tokensPerVersion"] == {old: 1}
    new = parsed(output)["current"]
    code, output = await tenantmail(app_container, "keys", "remove-version", old)
    assert code == 1 and "KeyVersionInUse" in output
    code, output = await tenantmail(app_container, "keys", "sweep", "--json")
    assert code == 0 and (parsed(output)["reencrypted"], parsed(output)["webhooksReinstalled"]) == (1, 1)
    code, output = await tenantmail(app_container, "keys", "remove-version", old, "--json")
    assert code == 0 and parsed(output)["versions"] == [new]
    code, output = await tenantmail(app_container, "keys", "status")
    assert code == 0 and "current" in output


async def test_drift_repair_prints_the_plan_applies_it_with_yes_and_then_has_nothing_left(app_container: Container) -> None:
    config = await provisioned(app_container, "acme")
    dkim, _ = expected_records(config)
    await app_container.ctx.dns.delete_records([dkim])

    code, output = await tenantmail(app_container, "drift", "repair", COLUMNS="200")  # a wide terminal: no folded cells
    assert code == 1 and "upsert_dns" in output and "planned" in output and "--yes" in output
    assert (dkim.name, "TXT") not in {(r.name, r.type) for r in await app_container.ctx.dns.list_records()}

    code, output = await tenantmail(app_container, "drift", "repair", "--yes", "--author", "ops:carol", "--json")
    result = parsed(output)
    assert code == 0 and result["author"] == "ops:carol" and result["outstanding"] == 0
    assert [r["status"] for r in result["repairs"]] == ["applied"]

    code, output = await tenantmail(app_container, "drift", "repair", "--yes", "--json")
    assert code == 0 and parsed(output)["repairs"] == []
    assert parsed(output)["author"].startswith("cli:")


async def test_drift_repair_exits_2_when_it_cannot_run(app_container: Container) -> None:
    unreachable = {"TENANTMAIL_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"}
    code, output = await tenantmail(app_container, "drift", "repair", "--yes", **unreachable)
    assert code == 2 and "cannot use the database" in output and "TENANTMAIL_DATABASE_URL" in output
