"""Sends accepted per second: ``POST /job`` → 202 over real HTTP (SPEC §13).

The API runs under uvicorn in separate processes (``--api-workers``) on the chosen database; the
cheapest load generator available (:mod:`bench.loadgen`: wrk, else raw asyncio streams) drives it
(1) closed loop at a fixed concurrency, for throughput with p50/p99, and (2) open loop at a fixed
rate (default 1,000/s), for p99 at that rate. Every request carries a fresh Idempotency-Key, so
each one goes through every gate and queues a job. The database's raw insert-and-commit rate is
measured in the same run for comparison.

    python -m bench.bench_send_accept --db postgresql [--api-workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.bench_raw_insert import raw_insert_rate
from bench.common import API_KEY, Stack, fresh_database, start_stack
from bench.loadgen import Target, closed_loop, metered, open_loop, run
from tests.app_fixtures import free_port
from tests.helpers import send_body, sendable_configuration

CONCURRENCY = 32
RATE = 1000


def target(port: int, prefix: str, config_eid: str) -> Target:
    """``POST /job`` with the bench tenant's credentials and a fresh Idempotency-Key each time."""
    return Target(
        port=port, path=f"{prefix}/job", key_header="Idempotency-Key",
        headers={"Authorization": f"Bearer {API_KEY}", "X-Tenant-Id": "bench", "X-Author": "bench",
                 "Content-Type": "application/json"},
        body=json.dumps(send_body(config_eid)).encode(),
    )


async def serve(stack: Stack, workers: int) -> tuple[Any, int]:
    """The API in ``workers`` uvicorn processes on a free port; returns (process, port) once up."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "--factory", "bench.common:api_factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning",
        "--no-access-log", env={**stack.env, "TENANTMAIL_EMBEDDED_WORKER": "false"},
    )
    async with httpx.AsyncClient() as probe:
        for _ in range(300):
            try:
                if (await probe.get(f"http://127.0.0.1:{port}/healthz")).status_code < 500:
                    return proc, port
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the API did not start")


async def measure(backend: str, seconds: float, api_workers: int, rate: float = RATE) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        async with fresh_database(backend, Path(work)) as url:
            raw = raw_insert_rate(backend, url, seconds, paced_rate=rate)
            stack = await start_stack(url, Path(work) / "var")
            proc = None
            try:
                config = await sendable_configuration(stack.app, "bench", "bench")
                proc, port = await serve(stack, api_workers)
                posts = target(port, stack.app.settings.api_prefix, config.e_id)
                await closed_loop(posts, 1.0, CONCURRENCY, 202)  # warm-up: connections, caches
                fixed = await metered(proc.pid, closed_loop(posts, seconds, CONCURRENCY, 202))
                paced = await metered(proc.pid, open_loop(posts, seconds, rate, 202))
            finally:
                if proc is not None:
                    proc.terminate()
                    await proc.wait()
                await stack.close()
    return {"db": backend, "api_workers": api_workers, "raw": raw, "closed_loop": fixed, "fixed_rate": paced,
            "accepted_vs_raw": round(fixed["per_second"] / raw["inserts_per_second"], 3)}


async def main() -> None:
    parser = argparse.ArgumentParser(description="POST /job accepted per second")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=RATE, help="Sends per second offered in the paced phase.")
    args = parser.parse_args()
    print(json.dumps(await measure(args.db, args.seconds, args.api_workers, args.rate)))


if __name__ == "__main__":
    run(main)
