"""Webhook ingestion: events stored per second and latency, against the database's raw insert rate.

The API runs under uvicorn in separate processes (``--api-workers``, as ``bench_send_accept``); the
cheapest load generator available (:mod:`bench.loadgen`: wrk, else raw asyncio streams) plays
Postmark, posting Delivery events over real HTTP with the configuration's Basic credentials, one per SENT job (each
event is matched, stored, and moves its job to DELIVERED: the full path). Two phases:

* saturation — ``--clients`` connections (closed loop) as fast as the API answers: events/s;
* paced — ``--rate`` events/s, open loop (each post leaves at its scheduled time): p50/p99.

    python -m bench.bench_webhook --db postgresql --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from bench.bench_raw_insert import raw_insert_rate
from bench.bench_send_accept import serve
from bench.common import Stack, fresh_database, machine, start_stack
from bench.loadgen import Target, closed_loop, metered, open_loop, run
from tenantmail.adapters.db.repositories.jobs import to_row
from tenantmail.adapters.db.tables import jobs
from tenantmail.bootstrap import Container
from tenantmail.domain.configuration import Administrative, EmailConfiguration, Operational, Signature
from tenantmail.domain.job import EmailJob, JobStatus

TENANT = "bench-tenant"
SERVER_ID = 4242
WARM_UP = 500
#: Events seeded per second of the saturation phase: more than the API can ingest here, so wrk
#: never wraps around to events already stored (which would be cheaper duplicates).
SATURATION_CEILING = 6000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--seconds", type=float, default=5.0, help="Duration of each measured phase.")
    parser.add_argument("--clients", type=int, default=32, help="Concurrent posters when saturating.")
    parser.add_argument("--rate", type=float, default=1000.0, help="Events per second when paced.")
    parser.add_argument("--api-workers", type=int, default=2, help="uvicorn worker processes of the API.")
    return parser.parse_args(argv)


async def seed(app: Container, count: int, *, tenant: str = TENANT,
               slug: str = "bench-hooks") -> tuple[EmailConfiguration, list[tuple[str, str]]]:
    """A configuration on SERVER_ID and ``count`` SENT jobs; returns it and (job eId, MessageID)s."""
    ctx, now = app.ctx, app.ctx.clock()
    config = EmailConfiguration.create(tenant_id=tenant, slug=slug, mail_zone_name="dev.ardamails.com",
                                       signature=Signature("noreply", "Bench", None), now=now)
    config.operational, config.administrative, config.server_id = Operational.OK, Administrative.UNLOCKED, SERVER_ID
    rows = []
    for i in range(count):
        job = EmailJob.queue(tenant_id=tenant, configuration_e_id=config.e_id, recipient=f"user{i}@example.com",
                             subject="s", idempotency_key=f"hook-{i}", now=now, text_body="t")
        job.message_id = str(uuid.uuid4())
        job.move(JobStatus.SENT, now)
        rows.append(job)
    async with ctx.uow(tenant) as uow:
        await uow.configurations.add(config, author="bench", cause="seed")
        await uow.commit()
    for start in range(0, count, 2000):  # one multi-row INSERT per chunk: seeding is not measured
        async with app.engine.begin() as conn:
            await conn.execute(jobs.insert(), [to_row(j) for j in rows[start:start + 2000]])
    return config, [(j.e_id, j.message_id or "") for j in rows]


def delivery(job_e_id: str, message_id: str) -> bytes:
    return json.dumps({
        "RecordType": "Delivery", "ServerID": SERVER_ID, "MessageStream": "outbound",
        "MessageID": message_id, "Recipient": "user@example.com", "Tag": "",
        "DeliveredAt": "2024-05-01T12:00:00.0000000Z", "Details": "smtp;250 2.0.0 OK",
        "Metadata": {"tm_job": job_e_id, "tm_config": "bench"},
    }).encode()


def target(port: int, prefix: str, config: EmailConfiguration, password: str, bodies: list[bytes]) -> Target:
    """Delivery events posted with the configuration's Basic credentials, one body per request."""
    credentials = base64.b64encode(f"{config.e_id}:{password}".encode()).decode()
    return Target(port=port, path=f"{prefix}/job/postmark-events", bodies=bodies,
                  headers={"Authorization": f"Basic {credentials}", "Content-Type": "application/json"})


async def load(stack: Stack, pid: int, port: int, args: argparse.Namespace) -> dict[str, Any]:
    """Seed, warm up, then both phases against the API on ``port`` (each on events of its own)."""
    saturation_budget = int(args.seconds * SATURATION_CEILING)
    paced_count = int(args.seconds * args.rate)
    config, seeded = await seed(stack.app, WARM_UP + saturation_budget + paced_count)
    events = [delivery(e_id, message_id) for e_id, message_id in seeded]
    password = stack.app.ctx.webhook_secrets.current(config.e_id)

    def posts(first: int, count: int) -> Target:
        return target(port, stack.app.settings.api_prefix, config, password, events[first:first + count])

    await closed_loop(posts(0, WARM_UP), 1.0, 8, 200)  # warm-up: connections, caches
    saturated = await metered(pid, closed_loop(posts(WARM_UP, saturation_budget), args.seconds, args.clients, 200))
    paced_run = await metered(pid, open_loop(posts(WARM_UP + saturation_budget, paced_count),
                                             args.seconds, args.rate, 200))
    return {"saturation": saturated, "paced": paced_run}


async def measure(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Raw insert rate, then the webhook figures, on a fresh database of ``backend``."""
    with tempfile.TemporaryDirectory() as work:
        async with fresh_database(backend, Path(work)) as url:
            raw = await asyncio.to_thread(raw_insert_rate, backend, url, args.seconds, paced_rate=args.rate)
            stack = await start_stack(url, Path(work) / "var")
            proc = None
            try:
                proc, port = await serve(stack, args.api_workers)
                figures = await load(stack, proc.pid, port, args)
            finally:
                if proc is not None:
                    proc.terminate()
                    await proc.wait()
                await stack.close()
    share = figures["saturation"]["per_second"] / raw["inserts_per_second"]
    return {"db": backend, "api_workers": args.api_workers, "raw": raw, **figures,
            "share_of_raw_rate": round(share, 3)}


def main() -> None:
    args = parse_args()
    json.dump({**run(lambda: measure(args.db, args)), "machine": machine()}, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
