"""The Bruno collection (``api-test/``) runs green, with the pinned Bruno CLI, against a live
``tenantmail serve`` in the embedded default (and the same on PostgreSQL): every request runs,
none fails, none is skipped.

The serve process gets free ports (API, and 0 for the sandbox's Postmark and Route 53) and its own
``TENANTMAIL_VAR_DIR``; the collection is run by ``api-test/run.py``, the command ``make api-test``
runs, which reads the API key and the key registry from that var directory. Without ``npm`` the
test is skipped with a notice; under ``CI=true`` that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.app_fixtures import free_port
from tests.conftest import UNDER_CI

REPO = Path(__file__).resolve().parents[2]
COLLECTION = REPO / "api-test"
RUNNER = COLLECTION / "run.py"
NOT_REQUESTS = {"folder.bru", "collection.bru"}

pytestmark = pytest.mark.timeout(900)  # the first run installs the Bruno CLI (about two minutes)


def collection_requests() -> list[str]:
    """Every request file of the collection, as the report names them (``folder/file``)."""
    return sorted(
        str(path.relative_to(COLLECTION).with_suffix(""))
        for path in COLLECTION.rglob("*.bru")
        if path.name not in NOT_REQUESTS and "environments" not in path.parts and "node_modules" not in path.parts
    )


@pytest.fixture
def npm() -> str:
    found = shutil.which("npm")
    if found is None:
        message = "npm not found: the Bruno collection (api-test/) needs Node.js 20+ and npm"
        if UNDER_CI:
            pytest.fail(f"{message}; it is required under CI=true")
        pytest.skip(f"{message}; skipped (install them to run it)")
    return found


def _embedded_env(var_dir: Path, port: int, database_url: str | None) -> dict[str, str]:
    """The embedded default on its own ports and var directory: no other TENANTMAIL_ setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTMAIL_")}
    env.update({
        "TENANTMAIL_VAR_DIR": str(var_dir), "TENANTMAIL_HOST": "127.0.0.1", "TENANTMAIL_PORT": str(port),
        "TENANTMAIL_SANDBOX_POSTMARK_PORT": "0", "TENANTMAIL_SANDBOX_ROUTE53_PORT": "0",
    })
    if database_url is not None:
        env["TENANTMAIL_DATABASE_URL"] = database_url
    return env


def _ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> bool:
    """Whether serve answers /readyz before it exits (False: it exited, e.g. its port was taken)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"tenantmail serve did not become ready at {url} within {timeout} s")


@pytest.fixture
def live_serve(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``tenantmail serve`` as ``make run`` starts it, in its own process: (its URL, its var dir)."""
    database_url = request.getfixturevalue("migrated_urls")[backend] if backend == "postgresql" else None
    var_dir, log = tmp_path / "var", tmp_path / "serve.log"
    for _attempt in range(3):  # a free port can be taken by another process before serve binds it
        port = free_port()
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "tenantmail.entrypoints.cli.main", "serve"],
                cwd=tmp_path, env=_embedded_env(var_dir, port, database_url), stdout=out, stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        if _ready(url, process):
            break
    else:
        raise AssertionError(f"tenantmail serve did not start:\n{log.read_text()[-3000:]}")
    try:
        yield url, var_dir
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_collection_runs_green_against_a_live_serve(
    npm: str, live_serve: tuple[str, Path], tmp_path: Path,
) -> None:
    url, var_dir = live_serve
    report = tmp_path / "bruno-report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTMAIL_")}  # read from var_dir
    done = subprocess.run(
        [sys.executable, str(RUNNER), "--var-dir", str(var_dir), "--url", url, "--", "--reporter-json", str(report)],
        env=env, capture_output=True, text=True, timeout=840,
    )
    output = (done.stdout + done.stderr)[-6000:]
    assert done.returncode == 0, output
    iteration = json.loads(report.read_text())[0]
    summary = iteration["summary"]
    assert summary["failedRequests"] == summary["errorRequests"] == summary["skippedRequests"] == 0, summary
    assert summary["failedAssertions"] == summary["failedTests"] == 0, summary
    results = {r["path"]: r for r in iteration["results"]}
    assert sorted(results) == collection_requests()  # every request ran, once
    assert all(r["assertionResults"] or r["testResults"] for r in results.values()), "a request asserts nothing"

    created = results["configuration/create"]  # the platform's documented example...
    assert json.loads(created["request"]["data"])["signatureRequest"] == {
        "fromLocalPart": "noreply", "fromName": "Acme Co", "replyToEmail": "support@acme.com"}
    assert created["response"]["status"] == 201
    provisioned = results["configuration/wait-until-ok"]["response"]  # ...provisioned to OK
    assert provisioned["data"]["payload"]["operationalStatus"] == "OK"
    assert results["job/replay"]["response"]["headers"]["idempotent-replayed"] == "true"
    assert results["postmark-events/bounce"]["response"]["data"]["status"] == "BOUNCED"


def test_the_runner_says_what_is_missing_for_a_deployment(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTMAIL_")}
    done = subprocess.run([sys.executable, str(RUNNER), "--env", "deployment"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "TENANTMAIL_URL, TENANTMAIL_API_KEY, TENANTMAIL_TENANT" in done.stderr
    done = subprocess.run([sys.executable, str(RUNNER), "--var-dir", str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "make run" in done.stderr
