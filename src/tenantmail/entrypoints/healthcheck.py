"""``python -m tenantmail.entrypoints.healthcheck``: the container image's HEALTHCHECK.

Standard library only, so that running it every 30 s costs milliseconds, not a full start-up. The
same image runs the API (``serve``, ``TENANTMAIL_PORT``) or a worker (``worker``,
``TENANTMAIL_WORKER_PORT``); whichever of the two answers ``GET /healthz`` with 200 on loopback
makes the container healthy (exit 0), otherwise exit 1.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 3.0


def healthy(port: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT_SECONDS) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def main() -> int:
    ports = (os.environ.get("TENANTMAIL_PORT", "8000"), os.environ.get("TENANTMAIL_WORKER_PORT", "8001"))
    return 0 if any(healthy(port) for port in ports) else 1


if __name__ == "__main__":
    sys.exit(main())
