"""Every benchmark, on both databases, one after the other; prints the machine and a Markdown
table of the figures for ``docs/performance.md``.

    python -m bench.run_all [--seconds 5] [--dbs sqlite,postgresql]

Other capabilities add their benchmark with one entry in ``BENCHMARKS``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

from bench import bench_dispatch, bench_send_accept, bench_webhook
from bench.common import machine
from bench.loadgen import run

Benchmark = Callable[[str, float], Awaitable[dict[str, Any]]]

#: uvicorn processes of the API, chosen by measurement on the 2-core machine (docs/performance.md):
#: PostgreSQL gains from a second process; SQLite has one writer, so a second process only adds
#: cross-process lock contention to the in-process writer queue.
API_WORKERS = {"postgresql": 2, "sqlite": 1}

BENCHMARKS: dict[str, Benchmark] = {
    "send_accept": lambda db, seconds: bench_send_accept.measure(db, seconds, api_workers=API_WORKERS[db]),
    "dispatch": lambda db, seconds: bench_dispatch.measure(db, 10_000, 1, seconds),
    "webhook": lambda db, seconds: bench_webhook.measure(db, bench_webhook.parse_args(
        ["--seconds", str(seconds), "--api-workers", str(API_WORKERS[db])])),
}


def _raw(result: dict[str, Any]) -> str:
    """The raw rate, and pgbench's own p99 at the paced rate when measured (the disk's floor)."""
    raw = result["raw"]
    paced = raw.get("paced")
    return f"{raw['inserts_per_second']}/s" + (f" (p99 {paced['p99_ms']} ms at {paced['target_rate']:g}/s)" if paced else "")


def headline(name: str, result: dict[str, Any]) -> str:
    raw = result["raw"]["inserts_per_second"]
    if name == "send_accept":
        c, r = result["closed_loop"], result["fixed_rate"]
        return (f"| accepted (POST /job → 202) | {result['db']} | {c['per_second']}/s @ c={c['concurrency']} "
                f"(p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms, {c['api_cpu_ms_per_request']} ms API CPU each); "
                f"at {r['target_rate']:g}/s offered: {r['per_second']}/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms "
                f"| {_raw(result)} | {c['per_second'] / raw:.1%} |")
    if name == "dispatch":
        return (f"| dispatched to sandbox | {result['db']} | {result['dispatched_per_second']}/s "
                f"({result['sent']} jobs, {result['sandbox_messages']} messages) | {raw}/s | "
                f"{(result['dispatched_per_second'] or 0) / raw:.0%} |")
    if name == "webhook":
        c, r = result["saturation"], result["paced"]
        return (f"| webhook events ingested | {result['db']} | {c['per_second']}/s @ c={c['concurrency']} "
                f"(p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms, {c['api_cpu_ms_per_request']} ms API CPU each); "
                f"at {r['target_rate']:g}/s offered: {r['per_second']}/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms "
                f"| {_raw(result)} | {result['share_of_raw_rate']:.1%} |")
    return f"| {name} | {result.get('db')} | {json.dumps(result)} | {raw}/s | |"


async def main() -> None:
    parser = argparse.ArgumentParser(description="run every benchmark")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--dbs", default="sqlite,postgresql")
    args = parser.parse_args()
    rows, raw_results = [], []
    for db in args.dbs.split(","):
        for name, bench in BENCHMARKS.items():
            result = await bench(db, args.seconds)
            raw_results.append({"benchmark": name, **result})
            rows.append(headline(name, result))
    print("machine:", json.dumps(machine()))
    print("| figure | db | measured | raw insert+commit (same run) | ratio |\n|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nraw results:\n" + json.dumps(raw_results, indent=1))


if __name__ == "__main__":
    run(main)
