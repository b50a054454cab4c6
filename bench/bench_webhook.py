"""Webhook ingestion: events stored per second and latency, against the database's raw insert rate.

The API runs under uvicorn in separate processes (``--api-workers``, as ``bench_send_accept``); this process plays Postmark, posting
Delivery events over real HTTP with the configuration's Basic credentials, one per SENT job (each
event is matched, stored, and moves its job to DELIVERED: the full path). Two phases:

* saturation — ``--clients`` concurrent posters as fast as the API answers: events/s;
* paced — ``--rate`` events/s, open loop (each post leaves at its scheduled time): p50/p99.

    python -m bench.bench_webhook --db postgresql --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.bench_raw_insert import raw_insert_rate
from bench.bench_send_accept import serve
from bench.common import Stack, fresh_database, machine, percentile, start_stack
from tenantmail.adapters.db.repositories.jobs import to_row
from tenantmail.adapters.db.tables import jobs
from tenantmail.bootstrap import App
from tenantmail.domain.configuration import Administrative, EmailConfiguration, Operational, Signature
from tenantmail.domain.job import EmailJob, JobStatus

TENANT = "bench-tenant"
SERVER_ID = 4242


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--seconds", type=float, default=5.0, help="Duration of each measured phase.")
    parser.add_argument("--clients", type=int, default=32, help="Concurrent posters when saturating.")
    parser.add_argument("--rate", type=float, default=1000.0, help="Events per second when paced.")
    parser.add_argument("--api-workers", type=int, default=2, help="uvicorn worker processes of the API.")
    return parser.parse_args(argv)


async def seed(app: App, count: int) -> tuple[EmailConfiguration, list[tuple[str, str]]]:
    """A configuration on SERVER_ID and ``count`` SENT jobs; returns it and (job eId, MessageID)s."""
    ctx, now = app.ctx, app.ctx.clock()
    config = EmailConfiguration.create(tenant_id=TENANT, slug="bench-hooks", mail_zone_name="dev.ardamails.com",
                                       signature=Signature("noreply", "Bench", None), now=now)
    config.operational, config.administrative, config.server_id = Operational.OK, Administrative.UNLOCKED, SERVER_ID
    rows = []
    for i in range(count):
        job = EmailJob.queue(tenant_id=TENANT, configuration_e_id=config.e_id, recipient=f"user{i}@example.com",
                             subject="s", idempotency_key=f"hook-{i}", now=now, text_body="t")
        job.message_id = str(uuid.uuid4())
        job.move(JobStatus.SENT, now)
        rows.append(job)
    async with ctx.uow(TENANT) as uow:
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


async def post(client: httpx.AsyncClient, body: bytes, latencies: list[float], failures: list[int]) -> None:
    """One webhook call; a non-200 answer or a transport error counts as a failure (status 0)."""
    started = time.perf_counter()
    try:
        response = await client.post("/job/postmark-events", content=body,
                                     headers={"Content-Type": "application/json"})
        status = response.status_code
    except httpx.TransportError:
        status = 0
    latencies.append(time.perf_counter() - started)
    if status != 200:
        failures.append(status)


async def saturate(client: httpx.AsyncClient, events: list[bytes], seconds: float, clients: int) -> dict[str, Any]:
    latencies: list[float] = []
    failures: list[int] = []
    feed = iter(events)
    deadline = time.perf_counter() + seconds

    async def poster() -> None:
        for body in feed:
            if time.perf_counter() > deadline:
                return
            await post(client, body, latencies, failures)

    started = time.perf_counter()
    await asyncio.gather(*(poster() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return {"events": len(latencies), "events_per_second": round(len(latencies) / elapsed),
            "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 1), "non_200": len(failures)}


async def paced(client: httpx.AsyncClient, events: list[bytes], seconds: float, rate: float) -> dict[str, Any]:
    """Open loop: post i leaves at start + i/rate whatever the earlier ones are doing."""
    latencies: list[float] = []
    failures: list[int] = []
    count = min(len(events), int(seconds * rate))
    start = time.perf_counter()
    tasks = []
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(client, events[i], latencies, failures)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    return {"target_rate": rate, "events": count, "achieved_rate": round(count / elapsed),
            "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 1), "non_200": len(failures)}


async def load(stack: Stack, base: str, args: argparse.Namespace) -> dict[str, Any]:
    """Seed, warm up, then both phases against the API at ``base`` (prefix included)."""
    config, seeded = await seed(stack.app, int(args.seconds * max(args.rate, 1000)) * 2 + 1000)
    events = [delivery(e_id, message_id) for e_id, message_id in seeded]
    auth = (config.e_id, stack.app.ctx.webhook_secrets.current(config.e_id))
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=base, auth=auth, limits=limits, timeout=60) as client:
        await saturate(client, events[:200], 60, 8)  # warm-up: connections, caches
        half = (len(events) - 200) // 2
        saturated = await saturate(client, events[200:200 + half], args.seconds, args.clients)
        paced_run = await paced(client, events[200 + half:], args.seconds, args.rate)
    return {"saturation": saturated, "paced": paced_run}


async def measure(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Raw insert rate, then the webhook figures, on a fresh database of ``backend``."""
    with tempfile.TemporaryDirectory() as work:
        async with fresh_database(backend, Path(work)) as url:
            raw = await asyncio.to_thread(raw_insert_rate, backend, url, args.seconds)
            stack = await start_stack(url, Path(work) / "var")
            proc = None
            try:
                proc, base = await serve(stack, args.api_workers)
                figures = await load(stack, base, args)
            finally:
                if proc is not None:
                    proc.terminate()
                    await proc.wait()
                await stack.close()
    share = figures["saturation"]["events_per_second"] / raw["inserts_per_second"]
    return {"db": backend, "api_workers": args.api_workers, "raw": raw, **figures,
            "share_of_raw_rate": round(share, 3)}


def main() -> None:
    args = parse_args()
    json.dump({**asyncio.run(measure(args.db, args)), "machine": machine()}, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
