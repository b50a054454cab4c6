"""What the benchmarks and the reliability suite share: a real stack on loopback.

:func:`start_stack` starts the Postmark sandbox (+ local Route 53) in this process, writes a key
registry, bootstraps an :class:`Container` wired to them as production would be (explicit URLs, no
embedded anything) and returns the ``TENANTMAIL_*`` environment that ``tenantmail serve`` /
``tenantmail worker`` subprocesses need to join the same stack.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tenantmail.adapters.db.engine import create_engine
from tenantmail.adapters.db.migrate import upgrade
from tenantmail.adapters.keyregistry import generate_registry_file
from tenantmail.bootstrap import Container, bootstrap
from tenantmail.domain.configuration import EmailConfiguration
from tenantmail.domain.job import EmailJob
from tenantmail.sandbox.runner import RunningSandbox, start_sandbox
from tenantmail.settings import Settings

API_KEY = "bench-api-key-0123456789abcdef"
ZONE = "dev.ardamails.com"
PG_ADMIN_DSN = os.environ.get("TENANTMAIL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
TENANTMAIL = str(Path(sys.executable).with_name("tenantmail"))


@dataclass
class Stack:
    app: Container
    sandbox: RunningSandbox
    env: dict[str, str]  #: environment for tenantmail subprocesses joining this stack

    async def close(self) -> None:
        await self.app.aclose()
        await asyncio.to_thread(self.sandbox.stop)

    def spawn(self, *args: str, **extra_env: str) -> subprocess.Popen[bytes]:
        """Start ``tenantmail <args>`` with the stack's environment (stdout/stderr discarded)."""
        return subprocess.Popen([TENANTMAIL, *args], env={**self.env, **extra_env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def delay_sends(self, seconds: float) -> None:
        """From now on every send to the sandbox (``/email*``) takes ``seconds`` (its fault API)."""
        async with httpx.AsyncClient(base_url=f"{self.sandbox.base_url}/_sandbox", timeout=60,
                                     headers={"X-Postmark-Account-Token": self.sandbox.account_token}) as client:
            fault = {"kind": "delay", "path": "/email*", "count": None, "delay_seconds": seconds}
            (await client.post("/faults", json=fault)).raise_for_status()

    async def messages(self, server_id: int) -> list[dict[str, Any]]:
        """Every message the sandbox stored for a server (its control API)."""
        async with httpx.AsyncClient(base_url=f"{self.sandbox.base_url}/_sandbox", timeout=60,
                                     headers={"X-Postmark-Account-Token": self.sandbox.account_token}) as client:
            response = await client.get(f"/servers/{server_id}/messages")
            response.raise_for_status()
            return response.json()


async def start_stack(database_url: str, var_dir: Path, **overrides: Any) -> Stack:
    """Sandbox + Container on ``database_url`` (already migrated); ``overrides`` go into Settings."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")  # moto accepts any credentials
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    var_dir.mkdir(parents=True, exist_ok=True)
    token = "sandbox-" + secrets.token_hex(8)
    sandbox = await asyncio.to_thread(start_sandbox, account_token=token, zone_name=ZONE)
    registry = var_dir / "keys.json"
    if not registry.exists():
        generate_registry_file(registry)
    env = {
        "TENANTMAIL_DATABASE_URL": database_url, "TENANTMAIL_POSTMARK_BASE_URL": sandbox.base_url,
        "TENANTMAIL_POSTMARK_ACCOUNT_TOKEN": token, "TENANTMAIL_ROUTE53_ENDPOINT_URL": sandbox.route53_endpoint_url,
        "TENANTMAIL_MAIL_ZONE_NAME": ZONE, "TENANTMAIL_MAIL_ZONE_ID": sandbox.zone_id,
        "TENANTMAIL_KEY_REGISTRY_FILE": str(registry), "TENANTMAIL_API_KEYS": API_KEY,
        "TENANTMAIL_VAR_DIR": str(var_dir), "TENANTMAIL_LOG_LEVEL": "WARNING",
        # each worker's probe port: any free one (several workers, and other runs, share the machine)
        "TENANTMAIL_WORKER_PORT": "0",
        # quotas checked (every send takes a token) but far above any load a benchmark offers
        "TENANTMAIL_QUOTA_SENDS_PER_SECOND": "1000000", "TENANTMAIL_QUOTA_BURST": "1000000",
        **{f"TENANTMAIL_{k.upper()}": str(v) for k, v in overrides.items()},
    }
    settings = Settings(_env_file=None, **{k.removeprefix("TENANTMAIL_").lower(): v for k, v in env.items()})  # type: ignore[call-arg]
    app = await bootstrap(settings, migrate=False, with_sandbox=False)
    return Stack(app, sandbox, {**os.environ, **env})


async def queue_jobs(app: Container, config: EmailConfiguration, count: int, *, chunk: int = 500) -> list[str]:
    """Put ``count`` QUEUED jobs for ``config`` straight into the outbox."""
    ids: list[str] = []
    now = app.ctx.clock()
    for start in range(0, count, chunk):
        async with app.ctx.uow(config.tenant_id) as uow:
            for i in range(start, min(count, start + chunk)):
                job = EmailJob.queue(
                    tenant_id=config.tenant_id, configuration_e_id=config.e_id, recipient=f"user{i}@example.com",
                    subject=f"Message {i}", idempotency_key=f"bench-{i}", now=now, text_body="Hello.",
                )
                await uow.jobs.add(job)
                ids.append(job.e_id)
            await uow.commit()
    return ids


def machine() -> dict[str, str]:
    """nproc, CPU model, RAM and the PostgreSQL server version, for the figures' context."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    try:
        with psycopg.connect(PG_ADMIN_DSN) as conn:
            pg = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    except Exception as exc:  # the figures are still useful without PostgreSQL
        pg = f"unavailable ({type(exc).__name__})"
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "ram_gib": f"{mem_kb / 1024 / 1024:.1f}",
            "postgresql": pg, "python": platform.python_version()}


@asynccontextmanager
async def fresh_database(backend: str, work_dir: Path) -> AsyncIterator[str]:
    """A new, migrated database of ``backend`` for one benchmark run, dropped afterwards."""
    if backend == "sqlite":
        url = f"sqlite:///{work_dir / 'bench.sqlite3'}"
    else:
        name = f"tenantmail_bench_{os.getpid()}_{secrets.token_hex(3)}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    engine = create_engine(url)
    try:
        await upgrade(engine)
        await engine.dispose()
        yield url
    finally:
        await engine.dispose()
        if backend != "sqlite":
            with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def cli_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--seconds", type=float, default=5.0, help="Duration of each measured phase.")
    return parser.parse_args()


def api_factory() -> Any:
    """``uvicorn --factory bench.common:api_factory``: the API as ``tenantmail serve`` configures it
    (logging from settings), so several uvicorn worker processes can serve it."""
    from tenantmail.adapters.telemetry import configure_logging
    from tenantmail.entrypoints.api.app import create_app
    from tenantmail.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)
