"""``POST /job/batch`` messages accepted per second vs single ``POST /job`` sends, same run (SPEC §17).

The API runs under uvicorn (``--api-workers``) on the chosen database, as in
:mod:`bench.bench_send_accept`. Phase 1: single sends, closed loop at 32 concurrent requests
(:mod:`bench.loadgen`). Phase 2: batches of ``--batch`` messages (every message a fresh
``idempotencyKey``), closed loop at ``--batch-concurrency`` requests, from an httpx client whose
cost per message is shared by the whole batch. Messages/s counts only messages answered 202.

    python -m bench.bench_batch --db postgresql [--batch 100] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.bench_send_accept import CONCURRENCY, serve, target
from bench.common import API_KEY, fresh_database, machine, start_stack
from bench.loadgen import closed_loop, metered, run
from tests.helpers import send_body, sendable_configuration


async def batches(port: int, prefix: str, config_e_id: str, size: int, seconds: float, concurrency: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Tenant-Id": "bench", "X-Author": "bench"}
    template = send_body(config_e_id)
    accepted = requests = 0
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal accepted, requests
        while time.perf_counter() < deadline:
            body = {"messages": [{**template, "idempotencyKey": str(uuid.uuid4())} for _ in range(size)]}
            started = time.perf_counter()
            answer = await client.post(f"http://127.0.0.1:{port}{prefix}/job/batch", json=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            requests += 1
            if answer.status_code == 200:
                accepted += sum(1 for r in answer.json()["results"] if r["status"] == 202)

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(one(client) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"messages_per_second": round(accepted / elapsed, 1), "requests": requests, "batch": size,
            "concurrency": concurrency, "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None}


async def measure(backend: str, seconds: float, api_workers: int, size: int, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        async with fresh_database(backend, Path(work)) as url:
            stack = await start_stack(url, Path(work) / "var")
            proc = None
            try:
                config = await sendable_configuration(stack.app, "bench", "bench")
                proc, port = await serve(stack, api_workers)
                prefix = stack.app.settings.api_prefix
                posts = target(port, prefix, config.e_id)
                await closed_loop(posts, 1.0, CONCURRENCY, 202)  # warm-up
                single = await metered(proc.pid, closed_loop(posts, seconds, CONCURRENCY, 202))
                await batches(port, prefix, config.e_id, size, 1.0, concurrency)  # warm-up
                batched = await batches(port, prefix, config.e_id, size, seconds, concurrency)
            finally:
                if proc is not None:
                    proc.terminate()
                    await proc.wait()
                await stack.close()
    return {"db": backend, "api_workers": api_workers, "single": single, "batch": batched,
            "batch_vs_single": round(batched["messages_per_second"] / single["per_second"], 2), "machine": machine()}


async def main() -> None:
    parser = argparse.ArgumentParser(description="POST /job/batch messages/s vs POST /job")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--batch-concurrency", type=int, default=4)
    args = parser.parse_args()
    print(json.dumps(await measure(args.db, args.seconds, args.api_workers, args.batch, args.batch_concurrency)))


if __name__ == "__main__":
    run(main)
