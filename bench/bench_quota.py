"""What the per-tenant quota costs a send: ``POST /job`` accepted per second with quotas off and on,
same run, alternating (SPEC §17 "Quotas"; issue 20's floor: within 10 % of quotas off).

With quotas on, the tenant's limits are set far above the offered load, so every send takes a
token (the bucket row's update in the send's statement) and none is refused: what is measured is
the check, not throttling. Each phase starts its own API processes (``--api-workers``) with
``TENANTMAIL_QUOTAS_ENABLED`` off or on, and is run ``--rounds`` times in turn (the machine is noisy).

    python -m bench.bench_quota --db postgresql [--rounds 2] [--seconds 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.bench_send_accept import CONCURRENCY, serve, target
from bench.common import fresh_database, machine, start_stack
from bench.loadgen import closed_loop, metered, run
from tenantmail.domain.quota import TenantLimits
from tests.helpers import sendable_configuration


async def measure(backend: str, seconds: float, api_workers: int, rounds: int) -> dict[str, Any]:
    phases: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as work:
        async with fresh_database(backend, Path(work)) as url:
            stack = await start_stack(url, Path(work) / "var")
            try:
                config = await sendable_configuration(stack.app, "bench", "bench")
                async with stack.app.ctx.uow("bench") as uow:  # far above the load: every send takes, none refused
                    await uow.tenant_quotas.set_limits(TenantLimits(1e6, 1_000_000, 1_000_000_000), author="bench",
                                                       now=stack.app.ctx.clock(), full_bucket=1_000_000)
                    await uow.commit()
                for _ in range(rounds):
                    for phase in ("off", "on"):
                        env = {**stack.env, "TENANTMAIL_QUOTAS_ENABLED": "true" if phase == "on" else "false"}
                        proc, port = await serve(dataclasses.replace(stack, env=env), api_workers)
                        try:
                            posts = target(port, stack.app.settings.api_prefix, config.e_id)
                            await closed_loop(posts, 1.0, CONCURRENCY, 202)  # warm-up
                            phases[phase].append(await metered(proc.pid, closed_loop(posts, seconds, CONCURRENCY, 202)))
                        finally:
                            proc.terminate()
                            await proc.wait()
            finally:
                await stack.close()

    def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"per_second": [r["per_second"] for r in runs],
                "api_cpu_ms_per_request": statistics.median(r["api_cpu_ms_per_request"] for r in runs),
                "postgresql_cpu_ms_per_request": statistics.median(r.get("postgresql_cpu_ms_per_request", 0) for r in runs),
                "p99_ms": [r["p99_ms"] for r in runs], "errors": sum(r["errors"] for r in runs)}

    off, on = summary(phases["off"]), summary(phases["on"])
    return {"db": backend, "api_workers": api_workers, "quotas_off": off, "quotas_on": on,
            "on_vs_off": round(statistics.median(on["per_second"]) / statistics.median(off["per_second"]), 3),
            "machine": machine()}


async def main() -> None:
    parser = argparse.ArgumentParser(description="POST /job per second with quotas off and on")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(await measure(args.db, args.seconds, args.api_workers, args.rounds)))


if __name__ == "__main__":
    run(main)
