"""What an operator sees from ``tenantmail`` (real processes on the test's database and sandbox):
text printed literally (never read as rich markup), ids never wrapped, ``--json`` errors as
``{"error", "message"}`` with a non-zero exit, tenant ids checked by the API's rule, a signal that
would change nothing refused without a history version, and ``config provision --wait``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bench.common import queue_jobs
from tenantmail.bootstrap import Container
from tenantmail.domain.configuration import Operational
from tenantmail.services.configuration_resources import dns_records
from tenantmail.services.configuration_store import load
from tenantmail.services.poll_verification import check_verification
from tenantmail.services.provision_configuration import provision_claimed
from tests.helpers import create_configuration_via_api, eventually, process_env, sandbox_control, sendable_configuration

pytestmark = [pytest.mark.usefixtures("engine"), pytest.mark.slow]  # engine: empty tables
CLI = str(Path(sys.executable).with_name("tenantmail"))
TENANT = "tenant-a"


@dataclasses.dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def json(self) -> dict:  # type: ignore[type-arg]
        return json.loads(self.out)


async def tenantmail(app: Container, *args: str, columns: int = 120) -> Ran:
    proc = await start(app, *args, columns=columns)
    out, err = await proc.communicate()
    return Ran(proc.returncode or 0, out.decode(), err.decode())


async def start(app: Container, *args: str, columns: int = 120) -> asyncio.subprocess.Process:
    env = {**process_env(app), "COLUMNS": str(columns), "TENANTMAIL_LOG_LEVEL": "ERROR"}
    return await asyncio.create_subprocess_exec(CLI, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)


async def test_outside_text_is_printed_literally_never_as_markup(app_container: Container) -> None:
    name = "[bold]Acme[/bold] [a-z] [/]"
    shown = await tenantmail(app_container, "config", "create", "--tenant", TENANT, "--slug", "literal",
                             "--from-name", name)
    assert shown.code == 0, shown.err
    assert name in shown.out

    refused = await tenantmail(app_container, "config", "create", "--tenant", TENANT, "--slug", "Not_A_Label",
                               "--from-name", "Acme")
    assert refused.code == 1
    assert refused.err.strip() == ("error: ValidationError: sendingDomainSlug must match "
                                   "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])? (a lower-case DNS label)")


@pytest.mark.parametrize("columns", [50, 80])
async def test_ids_are_never_wrapped_other_columns_fold_first(app_container: Container, columns: int) -> None:
    config = await sendable_configuration(app_container, TENANT, f"wide{columns}", from_name="A rather long name")
    [job] = await queue_jobs(app_container, config, 1)

    listed = await tenantmail(app_container, "config", "list", "--tenant", TENANT, columns=columns)
    jobs = await tenantmail(app_container, "jobs", "list", "--tenant", TENANT, columns=columns)
    assert listed.code == jobs.code == 0, listed.err + jobs.err
    assert any(config.e_id in line for line in listed.out.splitlines())  # whole, on one line
    assert any(job in line for line in jobs.out.splitlines())
    if columns == 80:  # there is room: the table fits the screen, the other columns folded
        assert max(len(line) for line in listed.out.splitlines()) <= 80


async def test_json_errors_are_json_on_stdout_with_a_non_zero_exit(app_container: Container) -> None:
    created = await tenantmail(app_container, "config", "create", "--tenant", TENANT, "--slug", "errs",
                               "--from-name", "Acme", "--json")
    e_id = created.json["eId"]
    cases = {
        ("config", "lock", e_id, "--tenant", TENANT, "--json"): (1, "IllegalSignal"),
        ("config", "show", str(uuid.uuid4()), "--tenant", TENANT, "--json"): (1, "NotFound"),
        ("config", "create", "--tenant", TENANT, "--json"): (2, "UsageError"),  # --slug missing
        ("config", "list", "--tenant", "no spaces", "--json"): (2, "UsageError"),
        ("jobs", "list", "--json", "--tenant", TENANT, "--status", "LOST"): (2, "UsageError"),
        ("drift", "last", "--json"): (2, "NoDriftReport"),
        ("drift", "--json", "last"): (2, "NoDriftReport"),
    }
    for args, (code, kind) in cases.items():
        ran = await tenantmail(app_container, *args)
        assert (ran.code, ran.json["error"]) == (code, kind), (args, ran.out, ran.err)
        assert set(ran.json) == {"error", "message"} and ran.json["message"]


async def test_drift_last_honours_json(app_container: Container) -> None:
    assert (await tenantmail(app_container, "drift", "--json")).code == 0  # keeps a (clean) report
    for args in (("drift", "last", "--json"), ("drift", "--json", "last")):
        ran = await tenantmail(app_container, *args)
        assert ran.code == 0 and ran.json["status"] == "clean", ran.out


@pytest.mark.parametrize("tenant", ["acme corp", "-acme", "a" * 129, "acme/eu", "ünïcode"])
async def test_the_cli_refuses_exactly_the_tenant_ids_the_api_refuses(
    app_container: Container, api: httpx.AsyncClient, tenant: str,
) -> None:
    through_api = await api.get("/configuration", headers={"X-Tenant-Id": tenant.encode()})
    assert (through_api.status_code, through_api.json()["error"]) == (400, "InvalidTenant")
    through_cli = await tenantmail(app_container, "config", "list", "--tenant", tenant)
    assert through_cli.code == 2 and "Invalid value for '--tenant'" in through_cli.err
    assert "a tenant id must be 1-128 characters of [A-Za-z0-9._:@-]" in through_cli.err


async def test_a_tenant_id_the_api_accepts_the_cli_accepts(app_container: Container) -> None:
    ran = await tenantmail(app_container, "config", "list", "--tenant", "Acme.EU:shop@1_x-y", "--json")
    assert ran.code == 0 and ran.json["total"] == 0, ran.out + ran.err


async def test_a_signal_that_changes_nothing_is_refused_and_writes_no_version(
    app_container: Container, api: httpx.AsyncClient,
) -> None:
    e_id = (await create_configuration_via_api(api, "noop"))["eId"]  # PENDING ∥ LOCKED
    refused = await api.post(f"/configuration/{e_id}/lock")
    assert (refused.status_code, refused.json()["error"]) == (409, "IllegalSignal")
    ran = await tenantmail(app_container, "config", "lock", e_id, "--tenant", TENANT, "--json")
    assert (ran.code, ran.json["error"]) == (1, "IllegalSignal")
    history = (await api.get(f"/configuration/{e_id}/history")).json()
    assert [item["signal"] for item in history["items"]] == ["create"]
    # force-lock from LOCKED still means something (it cancels the queued jobs lock lets drain)
    assert (await api.post(f"/configuration/{e_id}/force-lock")).status_code == 200


async def _state(app: Container, e_id: str) -> Operational:
    return (await load(app.ctx, TENANT, e_id)).operational


async def test_provision_wait_shows_progress_and_exits_3_on_missing(app_container: Container, api: httpx.AsyncClient) -> None:
    e_id = (await create_configuration_via_api(api, "waitmissing"))["eId"]
    await sandbox_control(app_container, "POST", "/faults",
                          {"kind": "error_code", "method": "POST", "path": "/senders", "error_code": 400})
    waiting = await start(app_container, "config", "provision", e_id, "--tenant", TENANT, "--wait")
    await eventually(lambda: _is(app_container, e_id, Operational.PROVISIONING), timeout=60)
    assert await provision_claimed(app_container.ctx) == 1  # what a worker does
    out, err = await asyncio.wait_for(waiting.communicate(), timeout=60)
    assert waiting.returncode == 3, err.decode()
    assert "→ PROVISIONING" in err.decode() and "→ MISSING" in err.decode()
    assert "MISSING" in out.decode() and "createSignature" in out.decode()


async def test_re_verify_wait_exits_4_on_unverified(app_container: Container, api: httpx.AsyncClient) -> None:
    ctx = app_container.ctx
    e_id = (await create_configuration_via_api(api, "waitunverified"))["eId"]
    assert (await api.post(f"/configuration/{e_id}/provision")).status_code == 200
    assert await provision_claimed(ctx) == 1
    config = await load(ctx, TENANT, e_id)
    await ctx.dns.delete_records(dns_records(config))  # Postmark can no longer verify it
    window = timedelta(hours=app_container.settings.verification_timeout_hours)

    async def expire() -> None:
        started = (await load(ctx, TENANT, e_id)).verification_started_at
        assert started is not None
        await check_verification(dataclasses.replace(ctx, clock=lambda: started + window), TENANT, e_id)

    await expire()
    assert await _state(app_container, e_id) is Operational.UNVERIFIED
    waiting = await start(app_container, "config", "re-verify", e_id, "--tenant", TENANT, "--wait", "--json")
    await eventually(lambda: _is(app_container, e_id, Operational.AWAITING_VERIFICATION), timeout=60)
    await expire()
    out, err = await asyncio.wait_for(waiting.communicate(), timeout=60)
    assert waiting.returncode == 4, err.decode()
    assert json.loads(out)["payload"]["operationalStatus"] == "UNVERIFIED"


async def test_provision_wait_gives_up_after_its_timeout_with_exit_5(app_container: Container, api: httpx.AsyncClient) -> None:
    e_id = (await create_configuration_via_api(api, "waitnobody"))["eId"]  # no worker provisions it
    ran = await tenantmail(app_container, "config", "provision", e_id, "--tenant", TENANT, "--wait", "--timeout", "1")
    assert ran.code == 5
    assert f"still PROVISIONING after 1 s; it goes on in the background: `tenantmail config show {e_id}" in ran.err


async def _is(app: Container, e_id: str, state: Operational) -> bool:
    return await _state(app, e_id) is state


@pytest.mark.usefixtures("worker")
async def test_jobs_send_queues_through_the_same_gates_as_the_api(app_container: Container) -> None:
    config = await sendable_configuration(app_container, TENANT, "clisend")
    sent = await tenantmail(app_container, "jobs", "send", "--tenant", TENANT, "--configuration", config.e_id,
                            "--to", "Customer@Example.com", "--subject", "Your order", "--text", "Thanks.", "--json")
    assert sent.code == 0, sent.err
    job = sent.json["eId"]
    assert sent.json["payload"]["recipient"] == "customer@example.com"

    async def status() -> str | None:
        found = (await tenantmail(app_container, "jobs", "show", job, "--tenant", TENANT, "--json")).json
        return found["payload"]["status"] if found["payload"]["status"] not in ("QUEUED", "SENDING") else None

    assert await eventually(status, timeout=60) in ("SENT", "DELIVERED")
    await tenantmail(app_container, "suppression", "add", "blocked@example.com", "--tenant", TENANT)
    refused = await tenantmail(app_container, "jobs", "send", "--tenant", TENANT, "--configuration", config.e_id,
                               "--to", "blocked@example.com", "--subject", "Hi", "--text", "x", "--json")
    assert (refused.code, refused.json["error"]) == (1, "RecipientSuppressed")
