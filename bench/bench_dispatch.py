"""Messages dispatched per second to the Postmark sandbox (SPEC §13).

N jobs are queued straight into the outbox, then ``tenantmail worker`` processes (``--workers``)
dispatch them in ``POST /email/batch`` calls of up to 500 to the sandbox running in this process.
The rate is N over the span between the first and the last job recorded SENT (process start-up
excluded). The database's raw insert-and-commit rate is measured in the same run.

    python -m bench.bench_dispatch --db postgresql
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.bench_raw_insert import raw_insert_rate
from bench.common import fresh_database, queue_jobs, start_stack
from tenantmail.adapters.db.tables import jobs
from tests.helpers import sendable_configuration


async def sent_span(stack: Any) -> tuple[int, float]:
    """How many jobs are SENT, and seconds between the first and the last of them."""
    async with stack.app.engine.connect() as conn:
        count, first, last = (await conn.execute(
            select(func.count(), func.min(jobs.c.updated_at), func.max(jobs.c.updated_at))
            .where(jobs.c.status == "SENT")
        )).one()
    if not count:
        return 0, 0.0
    return count, (last - first).total_seconds()


async def measure(backend: str, count: int, workers: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        async with fresh_database(backend, Path(work)) as url:
            raw = raw_insert_rate(backend, url, seconds)
            stack = await start_stack(url, Path(work) / "var", worker_poll_seconds=0.05)
            procs = []
            try:
                config = await sendable_configuration(stack.app, "bench", "bench")
                await queue_jobs(stack.app, config, count)
                began = time.perf_counter()
                procs = [stack.spawn("worker") for _ in range(workers)]
                while (await sent_span(stack))[0] < count and time.perf_counter() - began < 300:
                    await asyncio.sleep(0.2)
                sent, span = await sent_span(stack)
                delivered = len(await stack.messages(config.server_id or 0))
            finally:
                for proc in procs:
                    proc.terminate()
                    proc.wait()
                await stack.close()
    return {"db": backend, "jobs": count, "workers": workers, "sent": sent, "sandbox_messages": delivered,
            "dispatched_per_second": round(sent / span) if span else None, "raw": raw}


async def main() -> None:
    parser = argparse.ArgumentParser(description="messages dispatched per second")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0, help="raw insert measurement duration")
    args = parser.parse_args()
    print(json.dumps(await measure(args.db, args.jobs, args.workers, args.seconds)))


if __name__ == "__main__":
    asyncio.run(main())
