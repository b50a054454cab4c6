"""Client CPU per queued send through the send store alone (``adapters/db/intake``), in process.

No HTTP, no load generator: ``SendStore.queue_job`` called by ``--callers`` concurrent tasks on a
fresh database, CPU time of this process (the SQLite lane's thread included) divided by the sends.
What the hot path's database layer costs the API, with far less noise than the HTTP benchmarks.
``--quota``: every send also takes a token of its tenant's quota (limits far above the load, so
none is refused: the check's cost, SPEC §17), to compare with the same run without.

    python -m bench.bench_intake_cpu --db postgresql|sqlite [--sends 3000 --callers 64] [--quota]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import fresh_database
from bench.loadgen import run
from tenantmail.adapters.db.engine import create_engine
from tenantmail.adapters.db.intake import open_intake
from tenantmail.adapters.db.unit_of_work import UnitOfWork
from tenantmail.domain.configuration import Administrative, EmailConfiguration, Operational, Signature
from tenantmail.domain.idempotency import IdempotencyRecord
from tenantmail.domain.job import EmailJob
from tenantmail.domain.quota import MAX_BURST, MAX_SENDS_PER_DAY, MAX_SENDS_PER_SECOND, EffectiveLimits, QuotaTake

WARM_UP = 200


def _send(config: EmailConfiguration, i: int, now: datetime) -> tuple[EmailJob, IdempotencyRecord]:
    job = EmailJob.queue(tenant_id=config.tenant_id, configuration_e_id=config.e_id, recipient=f"u{i}@example.com",
                         subject="Hello", idempotency_key=f"k{i}-{uuid.uuid4().hex}", now=now, text_body="x" * 200)
    record = IdempotencyRecord(key=job.idempotency_key, request_hash="h" * 64, resource_e_id=job.e_id,
                               response_status=202, response_body={"eId": job.e_id}, created_at=now,
                               expires_at=now + timedelta(hours=24))
    return job, record


#: limits far above any load here: every send takes a token, none is refused
NO_LIMIT = QuotaTake(EffectiveLimits(MAX_SENDS_PER_SECOND, MAX_BURST, MAX_SENDS_PER_DAY), datetime.now(UTC))


async def measure(backend: str, sends: int, callers: int, wake: bool = True, quota: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        async with fresh_database(backend, Path(work)) as url:
            engine = create_engine(url)
            intake = open_intake(engine, url, wake_dispatch=wake)
            now = datetime.now(UTC)
            config = EmailConfiguration.create(tenant_id="bench", slug="bench", mail_zone_name="mail.example.com",
                                               signature=Signature("noreply", "Bench"), now=now)
            config.operational, config.administrative = Operational.OK, Administrative.UNLOCKED
            async with UnitOfWork(engine, "bench") as uow:
                await uow.configurations.add(config, author="bench", cause="seed")
                await uow.commit()
            items = [_send(config, i, now) for i in range(WARM_UP + sends)]
            slots = asyncio.Semaphore(callers)

            async def queue(item: tuple[EmailJob, IdempotencyRecord]) -> None:
                async with slots:
                    assert await intake.sends.queue_job(item[0], "job", item[1], configuration_version=1,
                                                        quota=NO_LIMIT if quota else None)

            try:
                await asyncio.gather(*(queue(item) for item in items[:WARM_UP]))
                cpu, wall = time.process_time(), time.perf_counter()
                await asyncio.gather(*(queue(item) for item in items[WARM_UP:]))
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            finally:
                await intake.close()
                await engine.dispose()
    return {"db": backend, "sends": sends, "callers": callers, "wake_dispatch": wake, "quota": quota, "cpu_us_per_send": round(cpu / sends * 1e6, 1),
            "per_second": round(sends / wall), "batches": intake.commit.batches}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--sends", type=int, default=3000)
    parser.add_argument("--callers", type=int, default=64)
    parser.add_argument("--no-wake", action="store_true", help="Batches commit no NOTIFY (DISPATCH_PUSH=false).")
    parser.add_argument("--quota", action="store_true", help="Every send takes a token of its tenant's quota.")
    args = parser.parse_args()
    print(json.dumps(await measure(args.db, args.sends, args.callers, wake=not args.no_wake, quota=args.quota)))


if __name__ == "__main__":
    run(main)
