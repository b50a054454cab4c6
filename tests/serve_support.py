"""A real ``tenantmail serve`` on the test's database (embedded sandbox on free ports, no worker)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.app_fixtures import TEST_API_KEY, free_port

CLI = str(Path(sys.executable).with_name("tenantmail"))


@contextmanager
def serving(database_url: str, work_dir: Path, **settings: str) -> Iterator[tuple[str, int]]:
    """``(base URL, pid)`` of a ``serve`` process, stopped afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTMAIL_")}
    env |= {"TENANTMAIL_VAR_DIR": str(work_dir / "var"), "TENANTMAIL_DATABASE_URL": database_url,
            "TENANTMAIL_PORT": str(port), "TENANTMAIL_API_KEYS": TEST_API_KEY, "TENANTMAIL_LOG_FORMAT": "json",
            "TENANTMAIL_SANDBOX_POSTMARK_PORT": "0", "TENANTMAIL_SANDBOX_ROUTE53_PORT": "0",
            "TENANTMAIL_EMBEDDED_WORKER": "false",
            **{f"TENANTMAIL_{name.upper()}": value for name, value in settings.items()}}
    proc = subprocess.Popen([CLI, "serve"], env=env, cwd=work_dir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
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
