"""The database's own ceiling: single-row INSERT + COMMIT per transaction, the yardstick every other
figure is compared with (SPEC §13).

PostgreSQL: ``pgbench`` with a one-INSERT custom script (8 clients, 2 threads) when installed, else
a Python loop. SQLite: a Python loop with the pragmas the service uses (WAL, synchronous=NORMAL).

    python -m bench.bench_raw_insert --db postgresql
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from bench.common import cli_args, fresh_database, percentile

TABLE = "CREATE TABLE IF NOT EXISTS bench_raw (id bigint, payload text, created_at timestamptz)"
PGBENCH_SCRIPT = "INSERT INTO bench_raw VALUES (:client_id, repeat('x', 200), now());\n"
PGBENCH_CLIENTS = 8


def pgbench_path() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))
    return str(candidates[-1]) if candidates else None


def raw_postgresql(url: str, seconds: float) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TABLE)
    binary = pgbench_path()
    if binary is None:
        return _python_loop_pg(url, seconds)
    parsed = make_url(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(PGBENCH_SCRIPT)
    out = subprocess.run(
        [binary, "-n", "-f", script.name, "-c", str(PGBENCH_CLIENTS), "-j", "2", "-T", str(int(seconds)),
         "-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres",
         parsed.database or "postgres"],
        capture_output=True, text=True, check=True,
    ).stdout
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"method": f"pgbench -c {PGBENCH_CLIENTS} -j 2", "inserts_per_second": round(tps)}


def _python_loop_pg(url: str, seconds: float) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        count, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            conn.execute("INSERT INTO bench_raw VALUES (%s, repeat('x', 200), now())", (count,))
            conn.commit()
            count += 1
    return {"method": "python loop (1 connection)", "inserts_per_second": round(count / seconds)}


def raw_sqlite(url: str, seconds: float) -> dict[str, Any]:
    conn = sqlite3.connect(make_url(url).database or ":memory:", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(TABLE.replace("timestamptz", "text"))
    count, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bench_raw VALUES (?, ?, datetime('now'))", (count, "x" * 200))
        conn.execute("COMMIT")
        count += 1
    conn.close()
    return {"method": "python loop (sqlite3, WAL, synchronous=NORMAL)", "inserts_per_second": round(count / seconds)}


def raw_insert_rate(backend: str, url: str, seconds: float, *, paced_rate: float | None = None) -> dict[str, Any]:
    """Single-row insert-and-commit rate of the database at ``url``; with ``paced_rate`` (PostgreSQL
    and pgbench only) also the latency of those inserts offered at that rate, the floor under any
    p99 the API can reach at the same rate on the same disk."""
    if backend != "postgresql":
        return raw_sqlite(url, seconds)
    figures = raw_postgresql(url, seconds)
    binary = pgbench_path()
    if paced_rate and binary:
        figures["paced"] = _paced_postgresql(binary, url, seconds, paced_rate)
    return figures


def _paced_postgresql(binary: str, url: str, seconds: float, rate: float) -> dict[str, Any]:
    """pgbench at a fixed rate (``-R``) with per-transaction logs: p50/p99 counted, as the API's
    open loop counts them, from each insert's scheduled start."""
    parsed = make_url(url)
    with tempfile.TemporaryDirectory() as logs:
        script = Path(logs) / "insert.sql"
        script.write_text(PGBENCH_SCRIPT)
        subprocess.run(
            [binary, "-n", "-f", str(script), "-c", str(PGBENCH_CLIENTS), "-j", "2", "-R", str(rate),
             "-T", str(int(seconds)), "-l", "--log-prefix", str(Path(logs) / "tx"),
             "-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres",
             parsed.database or "postgres"],
            capture_output=True, text=True, check=True,
        )
        latencies_ms = [int(line.split()[2]) / 1000 for log in Path(logs).glob("tx*") for line in log.open()]
    return {"target_rate": rate, "inserts": len(latencies_ms), "p50_ms": round(percentile(latencies_ms, 0.5), 1),
            "p99_ms": round(percentile(latencies_ms, 0.99), 1)}


async def main() -> None:
    args = cli_args(__doc__ or "")
    with tempfile.TemporaryDirectory() as work:
        async with fresh_database(args.db, Path(work)) as url:
            print(json.dumps({"db": args.db, **raw_insert_rate(args.db, url, args.seconds)}))


if __name__ == "__main__":
    asyncio.run(main())
