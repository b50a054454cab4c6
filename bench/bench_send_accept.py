"""Sends accepted per second: ``POST /job`` → 202 over real HTTP (SPEC §13).

The API runs under uvicorn in separate processes (``--api-workers``) on the chosen database; an
async httpx load generator in this process drives it (1) at a fixed concurrency, for throughput
with p50/p99, and (2) open-loop at a fixed rate (default 1,000/s), for p99 at that rate. Every
request carries a fresh Idempotency-Key, so each one goes through every gate and queues a job.
The database's raw insert-and-commit rate is measured in the same run for comparison.

    python -m bench.bench_send_accept --db postgresql
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.bench_raw_insert import raw_insert_rate
from bench.common import API_KEY, Stack, fresh_database, percentile, start_stack
from tests.app_fixtures import free_port
from tests.helpers import send_body, sendable_configuration

CONCURRENCY = 32
RATE = 1000


class Load:
    def __init__(self, base: str, config_eid: str):
        self.client = httpx.AsyncClient(
            base_url=base, timeout=httpx.Timeout(30, pool=None), limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
            headers={"Authorization": f"Bearer {API_KEY}", "X-Tenant-Id": "bench", "X-Author": "bench"},
        )
        self.body = send_body(config_eid)
        self.latencies: list[float] = []
        self.errors = 0

    async def one(self) -> None:
        began = time.perf_counter()
        try:
            answer = await self.client.post("/job", json=self.body, headers={"Idempotency-Key": uuid.uuid4().hex})
        except httpx.TransportError:  # counted, not fatal: an overloaded server is a result too
            self.errors += 1
            return
        self.latencies.append(time.perf_counter() - began)
        self.errors += answer.status_code != 202

    def summary(self, seconds: float) -> dict[str, Any]:
        return {"requests": len(self.latencies), "errors": self.errors,
                "per_second": round(len(self.latencies) / seconds),
                "p50_ms": round(percentile(self.latencies, 0.5) * 1000, 1),
                "p99_ms": round(percentile(self.latencies, 0.99) * 1000, 1)}


async def closed_loop(load: Load, seconds: float, concurrency: int) -> dict[str, Any]:
    end = time.perf_counter() + seconds

    async def user() -> None:
        while time.perf_counter() < end:
            await load.one()

    began = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(concurrency)))
    return {"concurrency": concurrency, **load.summary(time.perf_counter() - began)}


async def open_loop(load: Load, seconds: float, rate: int) -> dict[str, Any]:
    """Requests started on a fixed schedule whatever the answers do (no coordinated omission)."""
    began, tasks = time.perf_counter(), []
    for i in range(int(seconds * rate)):
        delay = began + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(load.one()))
    await asyncio.gather(*tasks)
    return {"target_rate": rate, **load.summary(time.perf_counter() - began)}


async def serve(stack: Stack, workers: int) -> tuple[Any, str]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "--factory", "bench.common:api_factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning",
        "--no-access-log", env={**stack.env, "TENANTMAIL_EMBEDDED_WORKER": "false"},
    )
    base = f"http://127.0.0.1:{port}{stack.app.settings.api_prefix}"
    async with httpx.AsyncClient() as probe:
        for _ in range(300):
            try:
                if (await probe.get(f"http://127.0.0.1:{port}/healthz")).status_code < 500:
                    return proc, base
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the API did not start")


async def measure(backend: str, seconds: float, api_workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        async with fresh_database(backend, Path(work)) as url:
            raw = raw_insert_rate(backend, url, seconds)
            stack = await start_stack(url, Path(work) / "var")
            proc = None
            try:
                config = await sendable_configuration(stack.app, "bench", "bench")
                proc, base = await serve(stack, api_workers)
                load = Load(base, config.e_id)
                await closed_loop(load, 1.0, CONCURRENCY)  # warm-up: connections, caches
                fixed = await closed_loop(Load(base, config.e_id), seconds, CONCURRENCY)
                paced = await open_loop(Load(base, config.e_id), seconds, RATE)
            finally:
                if proc is not None:
                    proc.terminate()
                    await proc.wait()
                await stack.close()
    return {"db": backend, "api_workers": api_workers, "raw": raw, "closed_loop": fixed, "fixed_rate": paced,
            "accepted_vs_raw": round(fixed["per_second"] / raw["inserts_per_second"], 3)}


async def main() -> None:
    import argparse
    parser = argparse.ArgumentParser(description="POST /job accepted per second")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--api-workers", type=int, default=2)
    args = parser.parse_args()
    print(await measure(args.db, args.seconds, args.api_workers))


if __name__ == "__main__":
    asyncio.run(main())
