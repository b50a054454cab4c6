"""The container files: a hadolint-clean Dockerfile that installs through deploy/install-runtime.sh
from the runtime lock only, a compose file with the services, volume and secrets docs/deploy.md
describes, and the image's HEALTHCHECK command probing the API or a worker."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tenantmail.sandbox.runner import ThreadedUvicorn
from tests.app_fixtures import free_port

REPO = Path(__file__).resolve().parents[2]
HADOLINT = Path(sys.executable).with_name("hadolint")


def test_the_dockerfile_is_hadolint_clean() -> None:
    linted = subprocess.run([str(HADOLINT), "--no-color", str(REPO / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_image_is_built_by_the_tested_script_from_the_runtime_lock_as_a_non_root_user() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", dockerfile, flags=re.M)
    assert stages == ["python:3.11-slim", "python:3.11-slim"]  # multi-stage: no build tools shipped
    assert "RUN ./deploy/install-runtime.sh /opt/tenantmail /src" in dockerfile
    assert "requirements.lock" in dockerfile and "requirements-dev.lock" not in dockerfile
    runtime = dockerfile.split("FROM python:3.11-slim", 2)[2]
    assert re.search(r"^USER 10001:10001$", runtime, flags=re.M)
    assert 'ENTRYPOINT ["tenantmail"]' in runtime and "HEALTHCHECK" in runtime
    copied = set(re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, flags=re.M))
    ignored = (REPO / ".dockerignore").read_text()
    assert all(line in ignored for line in ("tests", "bench", ".venv", "secrets"))
    assert copied == {"pyproject.toml README.md requirements.lock", "src", "deploy/install-runtime.sh"}


def test_compose_runs_postgres_a_one_shot_migrate_and_scalable_api_and_workers() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "api", "worker"}
    assert services["postgres"]["image"] == "postgres:15"
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"] and "pgdata" in compose["volumes"]
    assert services["migrate"]["command"] == ["migrate"] and services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name, command in (("api", "serve"), ("worker", "worker")):
        service = services[name]
        assert service["command"] == [command] and service["build"] == "."
        assert service["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        assert "container_name" not in service  # --scale needs unnamed containers
        mounted = {secret["target"] for secret in service["secrets"]}
        assert mounted == {"tenantmail_database_url", "tenantmail_api_keys",
                           "tenantmail_postmark_account_token", "tenantmail_key_registry"}
        environment = service["environment"]
        assert environment["TENANTMAIL_SECRETS_DIR"] == "/run/secrets"
        assert environment["TENANTMAIL_KEY_REGISTRY_FILE"] == "/run/secrets/tenantmail_key_registry"
        assert not any(key in environment for key in ("TENANTMAIL_API_KEYS", "TENANTMAIL_DATABASE_URL"))
    assert services["api"]["ports"] == ["${TENANTMAIL_API_PORTS:-8000-8009}:8000"]  # a range: --scale api=N
    assert set(compose["secrets"]) == {"postgres_password", "database_url", "api_keys",
                                       "postmark_account_token", "key_registry"}


@pytest.fixture
def healthz() -> Iterator[int]:
    app = Starlette(routes=[Route("/healthz", lambda _request: JSONResponse({"status": "ok"}))])
    server = ThreadedUvicorn(app).start()
    yield server.port
    server.stop()


def _healthcheck(**env: str) -> int:
    return subprocess.run([sys.executable, "-m", "tenantmail.entrypoints.healthcheck"], env={"PATH": "/usr/bin", **env},
                          timeout=30).returncode


def test_the_healthcheck_passes_for_an_api_or_a_worker_and_fails_for_neither(healthz: int) -> None:
    nobody = str(free_port())
    assert _healthcheck(TENANTMAIL_PORT=str(healthz), TENANTMAIL_WORKER_PORT=nobody) == 0  # an API container
    assert _healthcheck(TENANTMAIL_PORT=nobody, TENANTMAIL_WORKER_PORT=str(healthz)) == 0  # a worker container
    assert _healthcheck(TENANTMAIL_PORT=nobody, TENANTMAIL_WORKER_PORT=str(free_port())) == 1
