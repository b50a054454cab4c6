"""A worker process killed with SIGKILL in the middle of provisioning: the next worker finishes it
with exactly one server and one signature (real processes, the sandbox on its own ports)."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tenantmail.bootstrap import Container
from tenantmail.domain.naming import server_name
from tenantmail.services.configuration_store import load
from tests.helpers import create_configuration_via_api, eventually, postmark_leftovers, process_env, sandbox_control

pytestmark = [pytest.mark.usefixtures("engine"), pytest.mark.slow]
LEASE_SECONDS = "6"  # short, so the second worker takes over quickly ...
POSTMARK_TIMEOUT_SECONDS = "2"  # ... which needs a short call timeout (lease ≥ 3 × timeout)


@pytest.fixture
def start_worker(app_container: Container, tmp_path: Path) -> Iterator[callable]:  # type: ignore[valid-type]
    """Start ``tenantmail worker`` processes; any still running at the end are stopped."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "tenantmail.entrypoints.cli.main", "worker"],
            env={
                **process_env(app_container), "TENANTMAIL_LEASE_SECONDS": LEASE_SECONDS,
                "TENANTMAIL_POSTMARK_TIMEOUT_SECONDS": POSTMARK_TIMEOUT_SECONDS,
            },
            stdout=log, stderr=subprocess.STDOUT,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)


@pytest.mark.parametrize("route", ["/servers", "/senders"])
async def test_a_worker_killed_mid_provisioning_is_finished_by_the_next_with_no_duplicates(
    app_container: Container, api: httpx.AsyncClient, start_worker, route: str,  # type: ignore[no-untyped-def]
) -> None:
    slug = f"crash{uuid.uuid4().hex[:8]}"
    domain = f"{slug}.dev.ardamails.com"
    e_id = (await create_configuration_via_api(api, slug))["eId"]
    # Postmark processes the creation but withholds the answer: the worker is stuck in the call
    await sandbox_control(app_container, "POST", "/faults",
                          {"kind": "drop", "method": "POST", "path": route, "hold_seconds": 60})
    assert (await api.post(f"/configuration/{e_id}/provision")).status_code == 200

    first = start_worker("first")
    kind = "servers" if route == "/servers" else "signatures"

    async def created() -> bool:
        return len((await postmark_leftovers(app_container, domain))[kind]) == 1

    await eventually(created, timeout=90)  # a worker's start-up alone takes seconds on a loaded 2-core machine
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)

    start_worker("second")

    async def verified() -> bool:
        return (await load(app_container.ctx, "tenant-a", e_id)).operational.value == "OK"

    await eventually(verified, timeout=120)  # lease expiry + adoption + DNS + verification, same reason
    left = await postmark_leftovers(app_container, domain)
    config = await load(app_container.ctx, "tenant-a", e_id)
    assert [s.server_id for s in left["servers"]] == [config.server_id]
    assert [s.name for s in left["servers"]] == [server_name(domain)]
    assert [s.signature_id for s in left["signatures"]] == [config.signature_id]
