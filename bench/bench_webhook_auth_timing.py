"""Webhook authentication timing: a wrong password costs the same for a known and an unknown eId (SPEC §14).

The API runs as one uvicorn process (``bench.common:api_factory``, as ``tenantmail serve`` builds
it) on a fresh database with one configuration. One client on loopback posts a Delivery event
with a wrong password, alternating between the configuration's real eId and a random one that
exists nowhere (so drift in the machine's load hits both alike), ``--calls`` times each after a
warm-up; prints the median and p90 latency of each and their ratio (JSON).

    python -m bench.bench_webhook_auth_timing --db postgresql --calls 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.bench_send_accept import serve
from bench.common import fresh_database, machine, percentile, start_stack
from tenantmail.domain.configuration import Administrative, EmailConfiguration, Operational, Signature

WARM_UP = 50


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--calls", type=int, default=200, help="Wrong-password calls per eId kind.")
    return parser.parse_args(argv)


async def measure(backend: str, calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        async with fresh_database(backend, Path(work)) as url:
            stack = await start_stack(url, Path(work) / "var")
            proc = None
            try:
                now = stack.app.ctx.clock()
                config = EmailConfiguration.create(
                    tenant_id="bench", slug="bench-auth", mail_zone_name="dev.ardamails.com",
                    signature=Signature("noreply", "Bench", None), now=now,
                )
                config.operational, config.administrative, config.server_id = Operational.OK, Administrative.UNLOCKED, 1
                async with stack.app.ctx.uow("bench") as uow:
                    await uow.configurations.add(config, author="bench", cause="bench")
                    await uow.commit()
                proc, port = await serve(stack, 1)
                url_ = f"http://127.0.0.1:{port}{stack.app.settings.api_prefix}/job/postmark-events"
                body = json.dumps({"RecordType": "Delivery", "ServerID": 1, "MessageID": str(uuid.uuid4()),
                                   "Recipient": "a@example.com", "DeliveredAt": "2026-01-01T00:00:00Z"}).encode()
                timings: dict[str, list[float]] = {"known": [], "unknown": []}
                async with httpx.AsyncClient(timeout=30) as client:
                    async def call(e_id: str) -> float:
                        started = time.perf_counter()
                        response = await client.post(url_, content=body, auth=(e_id, "wrong-password"),
                                                     headers={"Content-Type": "application/json"})
                        elapsed = time.perf_counter() - started
                        assert response.status_code == 401, response.text
                        return elapsed

                    for _ in range(WARM_UP):
                        await call(config.e_id)
                        await call(str(uuid.uuid4()))
                    for _ in range(calls):
                        timings["known"].append(await call(config.e_id))
                        timings["unknown"].append(await call(str(uuid.uuid4())))  # a new unknown eId each time
            finally:
                if proc is not None:
                    proc.terminate()
                    await proc.wait()
                await stack.close()
    result: dict[str, Any] = {"db": backend, "calls_each": calls}
    for kind, values in timings.items():
        result[f"{kind}_median_ms"] = round(statistics.median(values) * 1000, 3)
        result[f"{kind}_p90_ms"] = round(percentile(values, 0.9) * 1000, 3)
    result["unknown_over_known"] = round(result["unknown_median_ms"] / result["known_median_ms"], 3)
    return result


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = asyncio.run(measure(args.db, args.calls))
    json.dump({"machine": machine(), **result}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
