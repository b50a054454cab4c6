"""200 MB at a real ``tenantmail serve``: answered 401 / 413, and the process's memory stays flat (SPEC §14).

The bodies are streamed from generators (chunked, or with a declared Content-Length), so the test
itself stays small. The serve's peak resident set is reset through ``/proc/<pid>/clear_refs``
after a warm-up and read back as ``VmHWM`` once the answers are in: the growth any of these
requests caused, however briefly.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.app_fixtures import TEST_API_KEY, free_port

CLI = str(Path(sys.executable).with_name("tenantmail"))
PREFIX = "/v1/shop-access/email"
HUGE = 200 * 1024 * 1024
CHUNK = b"A" * (256 * 1024)
pytestmark = pytest.mark.slow  # a real process and 600 MB over loopback


def _stream(total: int) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = CHUNK[: total - sent]
        sent += len(piece)
        yield piece


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.fixture
def serve(database_url: str, tmp_path: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTMAIL_")}
    env |= {"TENANTMAIL_VAR_DIR": str(tmp_path / "var"), "TENANTMAIL_DATABASE_URL": database_url,
            "TENANTMAIL_PORT": str(port), "TENANTMAIL_API_KEYS": TEST_API_KEY, "TENANTMAIL_LOG_FORMAT": "json",
            "TENANTMAIL_SANDBOX_POSTMARK_PORT": "0", "TENANTMAIL_SANDBOX_ROUTE53_PORT": "0",
            "TENANTMAIL_EMBEDDED_WORKER": "false"}
    proc = subprocess.Popen([CLI, "serve"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "serve exited"
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.2)
        yield base, proc.pid
        assert proc.poll() is None, "serve died"
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_200_mb_bodies_are_refused_and_memory_stays_flat(serve: tuple[str, int]) -> None:
    base, pid = serve
    auth = {"Authorization": f"Bearer {TEST_API_KEY}", "X-Tenant-Id": "acme", "Idempotency-Key": "k-1",
            "Content-Type": "application/json"}
    bad_basic = {"Authorization": "Basic " + base64.b64encode(b"someone:wrong").decode(),
                 "Content-Type": "application/json"}
    with httpx.Client(base_url=base + PREFIX, timeout=120) as client:
        # warm-up: every code path the big requests take, with small bodies
        assert client.post("/job", headers=auth, content=b'{"x": 1}').status_code == 400
        assert client.post("/job/postmark-events", headers=bad_basic, content=b"{}").status_code == 401
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        before = _status_kb(pid, "VmRSS")

        webhook = client.post("/job/postmark-events", headers=bad_basic, content=_stream(HUGE))
        no_credentials = client.post("/job/postmark-events", content=_stream(HUGE))
        chunked = client.post("/job", headers=auth, content=_stream(HUGE))
        declared = client.post("/job", headers={**auth, "Content-Length": str(HUGE)}, content=_stream(HUGE))
        peak = _status_kb(pid, "VmHWM")

    assert webhook.status_code == 401 and no_credentials.status_code == 401
    assert chunked.status_code == 413 and declared.status_code == 413
    assert chunked.json()["error"] == "PayloadTooLarge" and chunked.json()["requestId"]
    growth_mb = (peak - before) / 1024
    print(f"serve peak RSS growth: {growth_mb:.1f} MB")
    assert growth_mb < 20, f"serve's peak RSS grew by {growth_mb:.1f} MB"
