"""200 MB at a real ``tenantmail serve``: answered 401 / 413, and the process's memory stays flat (SPEC §14).

The bodies are streamed from generators (chunked, or with a declared Content-Length), so the test
itself stays small. The serve's peak resident set is reset through ``/proc/<pid>/clear_refs``
after a warm-up and read back as ``VmHWM`` once the answers are in: the growth any of these
requests caused, however briefly.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.app_fixtures import TEST_API_KEY
from tests.serve_support import serving

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
    with serving(database_url, tmp_path) as running:
        yield running


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
