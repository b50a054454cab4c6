"""Drift scan time for N configurations against the Postmark sandbox and moto's Route 53 (SPEC §13).

Seeds N configuration rows (one bulk insert), N sandbox servers (straight into the emulator's
document store: creating them over HTTP checks name uniqueness against every server, O(N²)) and
2·N records in moto (change batches of 1,000), then times ``detect_drift`` end to end: the paged
server listing over HTTP, one zone listing, and the paged cross-tenant scan. Target: ≤ 60 s for
10,000 configurations.

    .venv/bin/python bench/bench_drift.py [--configurations 10000] [--database-url URL]

Without ``--database-url`` a SQLite file in a temporary directory is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import insert

from tenantmail.adapters.db.repositories.configurations import to_row
from tenantmail.adapters.db.tables import configurations
from tenantmail.adapters.keyregistry import generate_registry_file
from tenantmail.bootstrap import Container, bootstrap
from tenantmail.domain.configuration import DnsRecords, EmailConfiguration, Operational, Signature
from tenantmail.domain.naming import return_path_host, server_name
from tenantmail.sandbox.app import create_app
from tenantmail.sandbox.route53_local import ensure_zone, start_route53
from tenantmail.sandbox.runner import ThreadedUvicorn
from tenantmail.sandbox.servers import EDITABLE
from tenantmail.sandbox.state import SandboxState
from tenantmail.sandbox.verification import route53_client
from tenantmail.services.detect_drift import detect_drift
from tenantmail.settings import Settings

ZONE = "bench.ardamails.com"
ACCOUNT_TOKEN = "bench-account-token"
CHANGES_PER_BATCH = 1000
ROWS_PER_INSERT = 1000


def seed_servers(state: SandboxState, count: int) -> dict[str, tuple[int, str]]:
    """slug → (server id, token), written as the emulator's own documents."""
    servers = {}
    for n in range(count):
        slug, token = f"t{n:05d}", str(uuid.uuid4())
        server_id = state.next_id("server")
        state.put("server", server_id, {**EDITABLE, "ID": server_id, "Name": server_name(f"{slug}.{ZONE}"),
                                        "ApiTokens": [token], "DeliveryType": "Sandbox"})
        servers[slug] = (server_id, token)
    return servers


def configuration(app: Container, slug: str, server: tuple[int, str], now: datetime) -> EmailConfiguration:
    config = EmailConfiguration.create(tenant_id=f"tenant-{slug}", slug=slug, mail_zone_name=ZONE,
                                       signature=Signature(from_name=slug), now=now)
    domain = config.sending_domain
    config.dns = DnsRecords(f"20250101pm._domainkey.{domain}", "k=rsa; p=" + secrets.token_urlsafe(160),
                            return_path_host(domain), "pm.mtasv.net")
    config.server_id = server[0]
    config.server_token_ciphertext = app.ctx.cipher.encrypt(server[1], aad=config.e_id)
    config.operational, config.verified_at, config.version = Operational.OK, now, 1
    return config


async def seed_rows(app: Container, configs: list[EmailConfiguration]) -> None:
    async with app.engine.begin() as conn:
        for start in range(0, len(configs), ROWS_PER_INSERT):
            await conn.execute(insert(configurations), [to_row(c) for c in configs[start:start + ROWS_PER_INSERT]])


def seed_records(endpoint: str, zone_id: str, configs: list[EmailConfiguration]) -> None:
    client = route53_client(endpoint)
    changes = []
    for config in configs:
        assert config.dns is not None
        changes.append(_create(config.dns.dkim_host, "TXT", f'"{config.dns.dkim_value}"'))
        changes.append(_create(config.dns.return_path_host, "CNAME", config.dns.return_path_value + "."))
    for start in range(0, len(changes), CHANGES_PER_BATCH):
        client.change_resource_record_sets(
            HostedZoneId=zone_id, ChangeBatch={"Changes": changes[start:start + CHANGES_PER_BATCH]})


def _create(name: str, record_type: str, value: str) -> dict[str, Any]:
    return {"Action": "CREATE", "ResourceRecordSet": {  # an UPSERT counts twice against the 1,000 records a batch may carry
        "Name": name + ".", "Type": record_type, "TTL": 300, "ResourceRecords": [{"Value": value}]}}


async def run(count: int, database_url: str | None, workdir: Path) -> dict[str, Any]:
    route53 = start_route53()
    zone_id = ensure_zone(route53.endpoint_url, ZONE)
    state = SandboxState()
    http = ThreadedUvicorn(create_app(state, account_token=ACCOUNT_TOKEN, route53_endpoint_url=route53.endpoint_url)).start()
    registry = workdir / "keys.json"
    generate_registry_file(registry)
    settings = Settings(
        _env_file=None, database_url=database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",  # type: ignore[call-arg]
        var_dir=workdir, api_keys=[SecretStr("bench-api-key-0123456789")], partition="bench", mail_zone_name=ZONE,
        mail_zone_id=zone_id, postmark_base_url=http.base_url, postmark_account_token=SecretStr(ACCOUNT_TOKEN),
        route53_endpoint_url=route53.endpoint_url, key_registry_file=registry, log_level="WARNING",
    )
    app = await bootstrap(settings, migrate=True)
    try:
        timings = {}
        started = time.perf_counter()
        servers = seed_servers(state, count)
        now = datetime.now(UTC)
        configs = [configuration(app, slug, server, now) for slug, server in servers.items()]
        await seed_rows(app, configs)
        seed_records(route53.endpoint_url, zone_id, configs)
        timings["seedSeconds"] = round(time.perf_counter() - started, 1)

        started = time.perf_counter()
        report = await detect_drift(app.ctx)
        timings["scanSeconds"] = round(time.perf_counter() - started, 2)
        return {"configurations": count, "database": app.engine.dialect.name, **timings,
                "status": report.status.value, "checked": report.configurations_checked,
                "findings": len(report.discrepancies)}
    finally:
        await app.aclose()
        http.stop()
        route53.stop()


def main() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")  # moto accepts any; boto3 needs some
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configurations", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="e.g. postgresql://postgres@127.0.0.1:5432/bench (must exist)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as workdir:
        result = asyncio.run(run(args.configurations, args.database_url, Path(workdir)))
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
