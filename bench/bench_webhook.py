"""Webhook ingestion: events stored per second and latency, against the database's raw insert rate.

The API runs as ``tenantmail serve`` in its own process; this process plays Postmark, posting
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
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import IO, Any

import httpx

from bench.bench_raw_insert import raw_insert_rate
from bench.common import TENANTMAIL, Stack, fresh_database, machine, percentile, start_stack
from tenantmail.adapters.db.repositories.jobs import to_row
from tenantmail.adapters.db.tables import jobs
from tenantmail.bootstrap import App
from tenantmail.domain.configuration import Administrative, EmailConfiguration, Operational, Signature
from tenantmail.domain.job import EmailJob, JobStatus

TENANT = "bench-tenant"
SERVER_ID = 4242
PREFIX = "/v1/shop-access/email"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--seconds", type=float, default=5.0, help="Duration of each measured phase.")
    parser.add_argument("--clients", type=int, default=32, help="Concurrent posters when saturating.")
    parser.add_argument("--rate", type=float, default=1000.0, help="Events per second when paced.")
    return parser.parse_args()


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
    started = time.perf_counter()
    response = await client.post(f"{PREFIX}/job/postmark-events", content=body,
                                 headers={"Content-Type": "application/json"})
    latencies.append(time.perf_counter() - started)
    if response.status_code != 200:
        failures.append(response.status_code)


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


async def wait_ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(300):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the API did not start on {base}")


async def measure(stack: Stack, args: argparse.Namespace, log: IO[bytes]) -> dict[str, Any]:
    """Seed, start the API process (its log to ``log``), warm up, then both phases."""
    budget = int(args.seconds * max(args.rate, 4000)) * 2 + 1000
    config, seeded = await seed(stack.app, budget)
    events = [delivery(e_id, message_id) for e_id, message_id in seeded]
    port = free_port()
    api = subprocess.Popen([TENANTMAIL, "serve", "--port", str(port)], env=stack.env,
                           stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base)
        auth = (config.e_id, stack.app.ctx.webhook_secrets.current(config.e_id))
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        async with httpx.AsyncClient(base_url=base, auth=auth, limits=limits, timeout=30) as client:
            await saturate(client, events[:200], 60, 8)  # warm-up: connections, caches
            half = (len(events) - 200) // 2
            saturated = await saturate(client, events[200:200 + half], args.seconds, args.clients)
            paced_run = await paced(client, events[200 + half:], args.seconds, args.rate)
    finally:
        api.terminate()
        api.wait(timeout=30)
    return {"saturation": saturated, "paced": paced_run}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        async with fresh_database(args.db, Path(work)) as url:
            raw = await asyncio.to_thread(raw_insert_rate, args.db, url, args.seconds)
            stack = await start_stack(url, Path(work) / "var")
            try:
                with open(Path(work) / "api.log", "wb") as log:
                    figures = await measure(stack, args, log)
            finally:
                await stack.close()
    ratio = figures["saturation"]["events_per_second"] / raw["inserts_per_second"]
    return {"benchmark": "webhook", "db": args.db, "raw_insert": raw, **figures,
            "share_of_raw_rate": round(ratio, 3), "machine": machine()}


def main() -> None:
    json.dump(asyncio.run(run(parse_args())), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
