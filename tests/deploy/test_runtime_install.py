"""The production install, for real (SPEC §15).

``deploy/install-runtime.sh`` — the steps the Dockerfile's build stage runs — builds a fresh venv
from the runtime lock and the wheel of a copy of the Docker build context. That venv holds none of
the emulator's or the tests' packages, says clearly that the embedded default needs
``tenantmail[sandbox]``, and then migrates, serves and works against PostgreSQL (its own database)
and a ``tenantmail sandbox`` started separately from the development venv, until one email is SENT.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.app_fixtures import free_port
from tests.helpers import eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # the first test builds the venv (pip, a wheel)
REPO = Path(__file__).resolve().parents[2]
#: what the Dockerfile COPYs into its build stage: the install must need nothing else
BUILD_CONTEXT = ("pyproject.toml", "README.md", "requirements.lock", "src", "deploy")
DEV_CLI = str(Path(sys.executable).with_name("tenantmail"))
API_KEY = "runtime-test-key-0123456789abcdef"
#: packages only the sandbox extra or the test tools bring; production must not carry them
NOT_IN_PRODUCTION = ("moto", "sympy", "cfn-lint", "networkx", "docker", "flask", "aws-xray-sdk",
                     "graphql-core", "antlr4-python3-runtime", "pytest", "hypothesis", "schemathesis", "pgqueuer")


def _clean_env(**extra: str) -> dict[str, str]:
    """What a container gives a process: no development venv, no inherited TENANTMAIL_* settings."""
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TMPDIR", "PIP_INDEX_URL",
                                                          "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")}
    return {**keep, "PATH": "/usr/local/bin:/usr/bin:/bin", **extra}


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    context = tmp_path_factory.mktemp("build-context")
    for name in BUILD_CONTEXT:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, context / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, context / name)
    venv = tmp_path_factory.mktemp("runtime") / "venv"
    done = subprocess.run(
        ["bash", str(context / "deploy" / "install-runtime.sh"), str(venv), str(context)],
        env=_clean_env(PYTHON=sys.executable), capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "installed in" in done.stdout
    return venv


def _installed(venv: Path) -> dict[str, str]:
    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json",
                             "--disable-pip-version-check"], capture_output=True, text=True, check=True)
    return {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(listed.stdout)}


def _locked(lock: Path) -> dict[str, str]:
    pins = (line.split("==") for line in lock.read_text().splitlines() if "==" in line and not line.startswith("#"))
    return {name.lower().replace("_", "-"): version for name, version in pins}


def test_the_runtime_venv_holds_the_runtime_lock_and_nothing_of_the_sandbox(runtime_venv: Path) -> None:
    installed = _installed(runtime_venv)
    assert not [name for name in NOT_IN_PRODUCTION if name in installed]
    extras = set(installed) - set(_locked(REPO / "requirements.lock")) - {"tenantmail", "pip", "setuptools"}
    assert extras == set()  # exactly the lock (pip and the venv's own setuptools aside)
    assert all(installed[name] == version for name, version in _locked(REPO / "requirements.lock").items())
    size_mb = sum(f.stat().st_size for f in runtime_venv.rglob("*") if f.is_file()) / 1e6
    print(f"\nruntime venv: {len(installed)} packages, {size_mb:.0f} MB")


def test_without_the_sandbox_extra_the_embedded_default_says_what_to_install(
    runtime_venv: Path, tmp_path: Path,
) -> None:
    tenantmail = str(runtime_venv / "bin" / "tenantmail")
    env = _clean_env(TENANTMAIL_VAR_DIR=str(tmp_path / "var"), TENANTMAIL_PORT=str(free_port()))
    serve = subprocess.run([tenantmail, "serve"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    lines = [line for line in serve.stderr.splitlines() if line.strip()]
    assert serve.returncode == 2 and len(lines) == 1, serve.stderr
    assert "tenantmail[sandbox]" in lines[0] and "TENANTMAIL_POSTMARK_BASE_URL" in lines[0]

    sandbox = subprocess.run([tenantmail, "sandbox", "--json"], env=env, capture_output=True, text=True,
                             timeout=60, cwd=tmp_path)
    assert sandbox.returncode == 2
    assert json.loads(sandbox.stdout) == {"error": "SandboxNotInstalled",
                                          "message": "the sandbox needs the extra: pip install 'tenantmail[sandbox]'"}


@pytest.fixture
def production_database(backend: str, fresh_database_url: str) -> str:
    if backend != "postgresql":
        pytest.skip("production runs on PostgreSQL")
    return fresh_database_url


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[dict[str, str]]:
    """``tenantmail sandbox`` from the development venv, on free ports, as its own process."""
    proc = subprocess.Popen(
        [DEV_CLI, "sandbox", "--json", "--postmark-port", "0", "--route53-port", "0",
         "--state-dir", str(tmp_path / "sandbox"), "--account-token", "runtime-test-account"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def _run(tenantmail: str, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run([tenantmail, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def test_the_runtime_venv_migrates_serves_works_and_sends(
    runtime_venv: Path, production_database: str, sandbox: dict[str, str], tmp_path: Path,
) -> None:
    tenantmail = str(runtime_venv / "bin" / "tenantmail")
    api_port, worker_port = free_port(), free_port()
    env = _clean_env(
        TENANTMAIL_DATABASE_URL=production_database, TENANTMAIL_API_KEYS=API_KEY,
        TENANTMAIL_POSTMARK_BASE_URL=sandbox["postmark_base_url"],
        TENANTMAIL_POSTMARK_ACCOUNT_TOKEN=sandbox["account_token"],
        TENANTMAIL_ROUTE53_ENDPOINT_URL=sandbox["route53_endpoint_url"],  # the zone is looked up by name
        TENANTMAIL_KEY_REGISTRY_FILE=str(tmp_path / "keys.json"), TENANTMAIL_VAR_DIR=str(tmp_path / "var"),
        TENANTMAIL_PORT=str(api_port), TENANTMAIL_WORKER_PORT=str(worker_port),
        TENANTMAIL_PUBLIC_BASE_URL=f"http://127.0.0.1:{api_port}", TENANTMAIL_LOG_FORMAT="json",
        TENANTMAIL_WORKER_POLL_SECONDS="0.1", TENANTMAIL_VERIFICATION_POLL_SECONDS="0.2",
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
    )
    _run(tenantmail, "keys", "init", str(tmp_path / "keys.json"), env=env)
    assert json.loads(_run(tenantmail, "migrate", "--json", env=env))["from"] is None

    processes = [subprocess.Popen([tenantmail, command], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for command in ("serve", "worker")]
    try:
        async with httpx.AsyncClient(timeout=10) as probe:
            for port in (api_port, worker_port):
                async def ready(port: int = port) -> bool:
                    try:
                        return (await probe.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
                    except httpx.TransportError:
                        return False
                await eventually(ready, timeout=60)
        await _send_one_email(f"http://127.0.0.1:{api_port}/v1/shop-access/email")
    finally:
        for proc in processes:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=90) for proc in processes]
    assert codes == [0, 0], [proc.stderr.read() for proc in processes if proc.stderr]


async def _send_one_email(base: str) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Tenant-Id": "acme", "X-Author": "runtime-test"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as api:
        created = await api.post("/configuration", json={"sendingDomainSlug": "acme", "signature": {"fromName": "Acme"}})
        assert created.status_code == 201, created.text
        e_id = created.json()["eId"]
        assert (await api.post(f"/configuration/{e_id}/provision")).status_code == 200

        async def state() -> str | None:
            found = (await api.get(f"/configuration/{e_id}")).json()["payload"]["operationalStatus"]
            return found if found in ("OK", "MISSING", "UNVERIFIED") else None

        assert await eventually(state, timeout=60) == "OK"  # the worker provisioned it, the sandbox verified
        assert (await api.post(f"/configuration/{e_id}/unlock")).status_code == 200
        sent = await api.post("/job", headers={"Idempotency-Key": "order-1"},
                              json={"configurationEId": e_id, "recipient": "customer@example.com",
                                    "subject": "Your order", "textBody": "Thanks."})
        assert sent.status_code == 202, sent.text
        job = sent.json()["eId"]

        async def status() -> str | None:
            found = (await api.get(f"/job/{job}")).json()["payload"]["status"]
            return found if found not in ("QUEUED", "SENDING") else None

        assert await eventually(status, timeout=60) in ("SENT", "DELIVERED")
