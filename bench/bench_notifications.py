"""Notifications: delivered per second, and what the outbox costs the hot paths (SPEC §17).

One run, one fresh database, the API in ``--api-workers`` uvicorn processes and a local receiver
(a uvicorn thread in this process, always 200):

1. **intake, notifications off vs on** — the same saturation phases as ``bench_webhook`` (Delivery
   events, each moving its job) and ``bench_send_accept`` (``POST /job``), alternated
   off/on/off/on: "on" is the tenant with one enabled endpoint taking every type, so every
   webhook also writes its outbox row inside its group-commit unit; "off" is the tenant without
   endpoints (the fan-out finds none). Ratios within the run (the machine is noisy).
2. **delivered/s** — ``--notifications`` events in the outbox, then one ``tenantmail worker
   --only notifications`` process: time from its /readyz to the last one delivered (render, sign,
   POST, record).

    .venv/bin/python -m bench.bench_notifications --db postgresql --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench import bench_send_accept, bench_webhook
from bench.common import Stack, fresh_database, machine, start_stack
from bench.loadgen import closed_loop, metered, run
from tenantmail.adapters.db.tables import notification_deliveries
from tenantmail.domain.notification import Notification, NotificationType
from tenantmail.sandbox.runner import ThreadedUvicorn
from tenantmail.services import manage_notifications
from tests.app_fixtures import free_port
from tests.helpers import sendable_configuration

CLIENTS = 32


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--seconds", type=float, default=5.0, help="Duration of each intake phase.")
    parser.add_argument("--rounds", type=int, default=3, help="off/on pairs per hot path (medians are reported).")
    parser.add_argument("--notifications", type=int, default=3000, help="Events delivered in phase 2.")
    parser.add_argument("--api-workers", type=int, default=2)
    return parser.parse_args(argv)


def receiver() -> ThreadedUvicorn:
    """The calling service: takes every notification (204)."""

    async def hook(request: Request) -> Response:
        await request.body()
        return Response(status_code=204)

    return ThreadedUvicorn(Starlette(routes=[Route("/hook", hook, methods=["POST"])])).start()


async def endpoint_on(stack: Stack, tenant: str, url: str) -> str:
    created, _ = await manage_notifications.create_endpoint(stack.app.ctx, tenant, url=url)
    return created.e_id


async def intake(stack: Stack, pid: int, port: int, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Webhook and send saturation, alternating without and with an endpoint; rates and the CPU
    per request (API processes, PostgreSQL) of every phase, medians per mode, on/off ratios."""
    budget = int(args.seconds * bench_webhook.SATURATION_CEILING)
    config, seeded = await bench_webhook.seed(stack.app, bench_webhook.WARM_UP + 2 * args.rounds * budget)
    events = [bench_webhook.delivery(e_id, message_id) for e_id, message_id in seeded]
    password = stack.app.ctx.webhook_secrets.current(config.e_id)
    prefix = stack.app.settings.api_prefix

    def posts(first: int, count: int) -> bench_webhook.Target:
        return bench_webhook.target(port, prefix, config, password, events[first:first + count])

    sending = await sendable_configuration(stack.app, "bench", "bench")
    sends = bench_send_accept.target(port, prefix, sending.e_id)
    await closed_loop(posts(0, bench_webhook.WARM_UP), 1.0, 8, 200)
    await closed_loop(sends, 1.0, 8, 202)
    phases: dict[str, list[dict[str, float]]] = {"webhook_off": [], "webhook_on": [], "send_off": [], "send_on": []}
    first = bench_webhook.WARM_UP
    for _ in range(args.rounds):
        for mode in ("off", "on"):
            endpoints = ([(t, await endpoint_on(stack, t, url)) for t in (bench_webhook.TENANT, "bench")]
                         if mode == "on" else [])
            hooks = await metered(pid, closed_loop(posts(first, budget), args.seconds, CLIENTS, 200))
            first += budget
            accepted = await metered(pid, closed_loop(sends, args.seconds, CLIENTS, 202))
            phases[f"webhook_{mode}"].append(_figures(hooks))
            phases[f"send_{mode}"].append(_figures(accepted))
            for tenant, e_id in endpoints:
                await manage_notifications.delete_endpoint(stack.app.ctx, tenant, e_id)
    medians = {name: {k: statistics.median(p[k] for p in runs) for k in runs[0]} for name, runs in phases.items()}
    ratios = {path: {k: round(medians[f"{path}_on"][k] / medians[f"{path}_off"][k], 3)
                     for k in medians[f"{path}_on"] if medians[f"{path}_off"][k]}
              for path in ("webhook", "send")}
    return {"per_phase": phases, "median": medians, "on_vs_off": ratios}


def _figures(phase: dict[str, Any]) -> dict[str, float]:
    return {"per_second": phase["per_second"], "api_cpu_ms": phase.get("api_cpu_ms_per_request", 0.0),
            "postgresql_cpu_ms": phase.get("postgresql_cpu_ms_per_request", 0.0)}


async def outbox_count(stack: Stack, state: str | None = None) -> int:
    d = notification_deliveries
    stmt = select(func.count()).select_from(d)
    if state:
        stmt = stmt.where(d.c.state == state)
    async with stack.app.engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())


async def delivered_per_second(stack: Stack, url: str, count: int) -> dict[str, Any]:
    """``count`` job.sent events for one endpoint, then a notification worker until all are delivered."""
    await endpoint_on(stack, "bench-deliver", url)
    _, seeded = await bench_webhook.seed(stack.app, count, tenant="bench-deliver", slug="bench-deliver")
    now = stack.app.ctx.clock()
    for start in range(0, count, 500):
        async with stack.app.ctx.uow("bench-deliver") as uow:
            await uow.notifications.record(*(Notification.of(NotificationType.JOB_SENT, e_id, now)
                                             for e_id, _ in seeded[start:start + 500]))
            await uow.commit()
    before = await outbox_count(stack, "delivered")
    probe = free_port()
    proc = stack.spawn("worker", "--only", "notifications", TENANTMAIL_WORKER_PORT=str(probe))
    try:
        async with httpx.AsyncClient(timeout=1) as client:
            while True:
                try:
                    if (await client.get(f"http://127.0.0.1:{probe}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
        began = time.perf_counter()
        cpu = await metered(proc.pid, _until_delivered(stack, before + count, count))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    elapsed = time.perf_counter() - began
    return {"notifications": count, "seconds": round(elapsed, 2), "delivered_per_second": round(count / elapsed, 1),
            "cpu_ms_per_notification": {k.removesuffix("_cpu_ms_per_request"): v for k, v in cpu.items()
                                        if k.endswith("_cpu_ms_per_request")}}


async def _until_delivered(stack: Stack, target: int, count: int) -> dict[str, Any]:
    while await outbox_count(stack, "delivered") < target:
        await asyncio.sleep(0.1)
    return {"requests": count}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    http = receiver()
    url = f"{http.base_url}/hook"
    try:
        with tempfile.TemporaryDirectory() as work:
            async with fresh_database(args.db, Path(work)) as db_url:
                stack = await start_stack(db_url, Path(work) / "var")
                proc = None
                try:
                    proc, port = await bench_send_accept.serve(stack, args.api_workers)
                    hot_paths = await intake(stack, proc.pid, port, url, args)
                    proc.terminate()
                    await proc.wait()
                    proc = None
                    delivery = await delivered_per_second(stack, url, args.notifications)
                finally:
                    if proc is not None:
                        proc.terminate()
                        await proc.wait()
                    await stack.close()
    finally:
        http.stop()
    return {"db": args.db, "api_workers": args.api_workers, "seconds_per_phase": args.seconds,
            "intake": hot_paths, "delivery": delivery, "machine": machine()}


def main() -> None:
    args = parse_args()
    json.dump(run(lambda: measure(args)), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
