"""Accepted → SENT, end to end (SPEC §16, issue 17): how long after its ``202`` a send is handed
to Postmark, with real processes — the API (uvicorn, ``--api-workers``), one ``tenantmail
worker``, the Postmark sandbox (in this process) and PostgreSQL — under open-loop sends
(``bench/pacer.c``: each request leaves at its scheduled time).

Each variant runs on a fresh database, one after the other in the same run:

* ``push`` — the defaults: LISTEN/NOTIFY wake-up, fair claims, ``DISPATCH_CONCURRENCY`` 4;
* ``baseline`` — main's behaviour by settings: polling every 0.5 s, oldest-first claims, one pass
  at a time (``DISPATCH_PUSH=false``, ``DISPATCH_FAIR=false``, ``DISPATCH_CONCURRENCY=1``).

Phases (latency = ``status_times.SENT`` − ``status_times.QUEUED`` of the phase's jobs, read from
the database once they are all SENT; accept p99 is the pacer's):

1. 10/s, sandbox answering at once;   2. 10/s, sandbox taking 100 ms per send call;
3. 300/s;   4. 1,000/s sends + ``--webhook-rate`` Delivery webhooks/s for 30 s: latency, the
   backlog 2 s after the load and the drain time, and CPU seconds per process (API, worker,
   PostgreSQL — the whole shared server —, this process: sandbox + load generators);
5. fairness: configuration A gets 50,000 jobs in one transaction (with the NOTIFY an intake batch
   commits); configuration B sends 10/s meanwhile: B's latency while A drains, and A's drain time.

Each phase starts with ``ANALYZE`` (:func:`analyze`): the shared server runs without autovacuum.
Machine load (``os.getloadavg``) is recorded with each phase: the 2 cores are shared, so compare
the variants' ratios within one run, not figures across runs.

    python -m bench.bench_end_to_end [--variants push,baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text

from bench.bench_send_accept import serve
from bench.bench_send_accept import target as send_target
from bench.bench_webhook import delivery, seed
from bench.bench_webhook import target as webhook_target
from bench.common import Stack, fresh_database, machine, percentile, start_stack
from bench.loadgen import generator_cpu_seconds, open_loop, postgresql_pid, process_tree_cpu_seconds, run
from tenantmail.adapters.db.repositories.jobs import to_row
from tenantmail.adapters.db.tables import jobs
from tenantmail.domain.configuration import EmailConfiguration
from tenantmail.domain.job import EmailJob
from tests.helpers import sendable_configuration

VARIANTS: dict[str, dict[str, str]] = {
    "push": {},
    "baseline": {"TENANTMAIL_DISPATCH_PUSH": "false", "TENANTMAIL_DISPATCH_FAIR": "false",
                 "TENANTMAIL_DISPATCH_CONCURRENCY": "1", "TENANTMAIL_WORKER_POLL_SECONDS": "0.5"},
}
DRAIN_TIMEOUT_SECONDS = 180.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="accepted → SENT latency, end to end")
    parser.add_argument("--variants", default="push,baseline")
    parser.add_argument("--seconds", type=float, default=20.0, help="Duration of the 10/s and 300/s phases.")
    parser.add_argument("--mixed-seconds", type=float, default=30.0)
    parser.add_argument("--mixed-rate", type=float, default=1000.0)
    parser.add_argument("--webhook-rate", type=float, default=300.0, help="Webhooks/s during the mixed phase.")
    parser.add_argument("--backlog", type=int, default=50_000, help="Configuration A's jobs in the fairness phase.")
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--phases", default="10,10-latency,300,mixed,fairness")
    return parser.parse_args()


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (5 min {five:.2f})"


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


async def latencies(stack: Stack, config_eid: str, since: datetime, until: datetime) -> tuple[list[float], int]:
    """Accepted → SENT seconds of the configuration's jobs queued in [since, until]; and how many
    of them are not SENT."""
    async with stack.app.engine.connect() as conn:
        rows = (await conn.execute(
            select(jobs.c.status, jobs.c.status_times)
            .where(jobs.c.configuration_e_id == config_eid, jobs.c.created_at >= since, jobs.c.created_at <= until)
        )).all()
    done, pending = [], 0
    for status, times in rows:
        if status == "QUEUED" or status == "SENDING" or "SENT" not in (times or {}):
            pending += 1
            continue
        done.append((datetime.fromisoformat(times["SENT"]) - datetime.fromisoformat(times["QUEUED"])).total_seconds())
    return done, pending


async def not_sent(stack: Stack, config_eid: str | None = None) -> int:
    stmt = select(func.count()).where(jobs.c.status.in_(("QUEUED", "SENDING")))
    if config_eid is not None:
        stmt = stmt.where(jobs.c.configuration_e_id == config_eid)
    async with stack.app.engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())


async def drained(stack: Stack, config_eid: str | None = None) -> float:
    """Seconds until nothing (of the configuration) is QUEUED or SENDING."""
    began = time.perf_counter()
    while await not_sent(stack, config_eid) and time.perf_counter() - began < DRAIN_TIMEOUT_SECONDS:
        await asyncio.sleep(0.1)
    return time.perf_counter() - began


def figures(values: list[float], pending: int) -> dict[str, Any]:
    return {"jobs": len(values) + pending, "not_sent": pending, "p50_ms": ms(percentile(values, 0.5)),
            "p90_ms": ms(percentile(values, 0.9)), "p99_ms": ms(percentile(values, 0.99)),
            "max_ms": ms(max(values)) if values else None}


class Cpu:
    """CPU seconds per process over a phase: where the shared cores went."""

    def __init__(self, api_pid: int, worker_pid: int) -> None:
        self.sources = {"api": lambda: process_tree_cpu_seconds(api_pid),
                        "worker": lambda: process_tree_cpu_seconds(worker_pid),
                        "bench_sandbox_and_generators": generator_cpu_seconds}
        if (database := postgresql_pid()) is not None:
            self.sources["postgresql_all_backends"] = lambda: process_tree_cpu_seconds(database)
        self.before = {name: read() for name, read in self.sources.items()}

    def seconds(self) -> dict[str, float]:
        return {name: round(read() - self.before[name], 1) for name, read in self.sources.items()}


async def paced_sends(stack: Stack, port: int, config: EmailConfiguration, rate: float, seconds: float,
                      config_for_latency: EmailConfiguration | None = None) -> dict[str, Any]:
    """``rate`` sends/s for ``seconds``; then, once they are all SENT, their latencies."""
    since = datetime.now(UTC)
    accept = await open_loop(send_target(port, stack.app.settings.api_prefix, config.e_id), seconds, rate, 202)
    until = datetime.now(UTC)
    await drained(stack, config.e_id)
    values, pending = await latencies(stack, config.e_id, since, until)
    return {"offered_per_second": rate, "seconds": seconds, "accept_p99_ms": accept["p99_ms"],
            "accept_errors": accept["errors"], "accepted_to_sent": figures(values, pending), "load": load()}


async def set_delay(stack: Stack, seconds: float | None) -> None:
    if seconds is not None:
        await stack.delay_sends(seconds)
        return
    async with httpx.AsyncClient(base_url=f"{stack.sandbox.base_url}/_sandbox", timeout=60,
                                 headers={"X-Postmark-Account-Token": stack.sandbox.account_token}) as client:
        (await client.delete("/faults")).raise_for_status()


async def mixed(stack: Stack, port: int, config: EmailConfiguration, api_pid: int, worker_pid: int,
                args: argparse.Namespace) -> dict[str, Any]:
    """Sends and webhooks at once, open loop; latency, backlog 2 s after, drain, CPU per process."""
    hook_count = int(args.mixed_seconds * args.webhook_rate)
    hooks_config, seeded = await seed(stack.app, hook_count)
    password = stack.app.ctx.webhook_secrets.current(hooks_config.e_id)
    hooks = webhook_target(port, stack.app.settings.api_prefix, hooks_config, password,
                           [delivery(e_id, message_id) for e_id, message_id in seeded])
    cpu = Cpu(api_pid, worker_pid)
    since, began = datetime.now(UTC), time.perf_counter()
    sends, webhooks = await asyncio.gather(
        open_loop(send_target(port, stack.app.settings.api_prefix, config.e_id), args.mixed_seconds,
                  args.mixed_rate, 202),
        open_loop(hooks, args.mixed_seconds, args.webhook_rate, 200),
    )
    until, ended = datetime.now(UTC), time.perf_counter()
    await asyncio.sleep(max(0.0, 2.0 - (time.perf_counter() - ended)))
    backlog_after_2s = await not_sent(stack, config.e_id)
    drain = 2.0 + await drained(stack, config.e_id) if backlog_after_2s else None
    spent = cpu.seconds()
    values, pending = await latencies(stack, config.e_id, since, until)
    return {"offered_per_second": args.mixed_rate, "webhooks_per_second": args.webhook_rate,
            "seconds": round(ended - began, 1), "accept_p99_ms": sends["p99_ms"], "accept_errors": sends["errors"],
            "sends_answered_per_second": sends["per_second"], "webhook_p99_ms": webhooks["p99_ms"],
            "webhook_errors": webhooks["errors"], "accepted_to_sent": figures(values, pending),
            "backlog_2s_after_load": backlog_after_2s, "drained_seconds_after_load": drain,
            "cpu_seconds": spent, "load": load()}


async def backlog_of(stack: Stack, config: EmailConfiguration, count: int) -> datetime:
    """``count`` QUEUED jobs of ``config`` in one transaction, with the NOTIFY an intake batch commits."""
    now = stack.app.ctx.clock()
    rows = [to_row(EmailJob.queue(tenant_id=config.tenant_id, configuration_e_id=config.e_id,
                                  recipient=f"bulk{i}@example.com", subject=f"Bulk {i}",
                                  idempotency_key=f"bulk-{i}", now=now, text_body="Hello."))
            for i in range(count)]
    async with stack.app.engine.begin() as conn:
        for start in range(0, count, 2000):
            await conn.execute(jobs.insert(), rows[start:start + 2000])
        await conn.execute(text("SELECT pg_notify('tenantmail_jobs', '')"))
    return now


async def fairness(stack: Stack, port: int, bulk: EmailConfiguration, lone: EmailConfiguration,
                   args: argparse.Namespace) -> dict[str, Any]:
    await backlog_of(stack, bulk, args.backlog)
    a_done = asyncio.create_task(drained(stack, bulk.e_id))
    since = datetime.now(UTC)
    accept = await open_loop(send_target(port, stack.app.settings.api_prefix, lone.e_id), args.seconds, 10, 202)
    until = datetime.now(UTC)
    b_pending_at_end = await not_sent(stack, bulk.e_id)
    await drained(stack, lone.e_id)
    a_drain = await a_done
    values, pending = await latencies(stack, lone.e_id, since, until)
    return {"backlog_a": args.backlog, "b_offered_per_second": 10, "seconds": args.seconds,
            "b_accept_p99_ms": accept["p99_ms"], "b_accepted_to_sent": figures(values, pending),
            "a_left_when_b_stopped": b_pending_at_end, "a_drained_seconds": round(a_drain, 1),
            "a_dispatched_per_second": round(args.backlog / a_drain) if a_drain else None, "load": load()}


async def analyze(stack: Stack) -> None:
    """``ANALYZE`` before each phase, as a production server's autovacuum would have done by then.
    The shared server these benchmarks run on has ``autovacuum = off`` (a CI setting), and a table
    never analyzed has no statistics: the planner then rates ``tenant_id = $1`` as selective as the
    primary key and may look a job up by a tenant index, reading every row of the tenant for each
    outcome — measured here as PostgreSQL's CPU ×8 in the mixed phase (docs/performance.md)."""
    async with stack.app.engine.begin() as conn:
        await conn.execute(text("ANALYZE"))


async def variant(name: str, args: argparse.Namespace) -> dict[str, Any]:
    phases = args.phases.split(",")
    result: dict[str, Any] = {"variant": name, "settings": VARIANTS[name]}
    with tempfile.TemporaryDirectory() as work:
        async with fresh_database("postgresql", Path(work)) as url:
            stack = await start_stack(url, Path(work) / "var")
            api = worker = None
            try:
                b = await sendable_configuration(stack.app, "bench", "bench-b")  # send_target: tenant "bench"
                a = await sendable_configuration(stack.app, "bench-a", "bench-a")
                api, port = await serve(stack, args.api_workers)
                worker = stack.spawn("worker", **VARIANTS[name])
                await asyncio.sleep(3)  # the worker's start-up
                await paced_sends(stack, port, b, 10, 2)  # warm-up: connections, caches, statements
                if "10" in phases:
                    await analyze(stack)
                    result["10/s"] = await paced_sends(stack, port, b, 10, args.seconds)
                if "10-latency" in phases:
                    await analyze(stack)
                    await set_delay(stack, 0.1)
                    result["10/s, sandbox 100 ms"] = await paced_sends(stack, port, b, 10, args.seconds)
                    await set_delay(stack, None)
                if "300" in phases:
                    await analyze(stack)
                    result["300/s"] = await paced_sends(stack, port, b, 300, args.seconds)
                if "mixed" in phases:
                    await analyze(stack)
                    result["mixed"] = await mixed(stack, port, b, api.pid, worker.pid, args)
                if "fairness" in phases:
                    await analyze(stack)
                    result["fairness"] = await fairness(stack, port, a, b, args)
            finally:
                if worker is not None:
                    worker.terminate()
                    worker.wait()
                if api is not None:
                    api.terminate()
                    await api.wait()
                await stack.close()
    return result


async def main() -> None:
    args = parse_args()
    out = {"machine": machine(), "started": datetime.now(UTC).isoformat(timespec="seconds"), "load": load(),
           "variants": []}
    for name in args.variants.split(","):
        out["variants"].append(await variant(name, args))
        print(json.dumps(out["variants"][-1]), flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    run(main)
