"""The cheapest load generators available, so the figures measure the API and not the client.

Both phases post prebuilt requests, each one unique (a fresh ``Idempotency-Key`` header, or the
next body of a list), over keep-alive HTTP/1.1 connections to ``127.0.0.1``:

* :func:`closed_loop` — N connections, each sending its next request as soon as the previous
  answer arrives: throughput with p50/p99. Uses ``wrk`` (C, one thread) when it is on PATH, and
  falls back to :func:`python_closed_loop`.
* :func:`open_loop` — requests leave on a fixed schedule (``rate`` per second) whatever the
  earlier answers do; each latency is counted from the request's *scheduled* time, so a server
  that falls behind is charged for the queue (no coordinated omission). ``wrk`` cannot pace
  (``wrk2`` is not packaged here), so this is ``bench/pacer.c``, compiled on first use, and,
  without a C compiler, the same loop in raw asyncio streams under uvloop (:func:`run`).

:func:`metered` adds where the CPU went: the API's, the generator's and PostgreSQL's per request.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import itertools
import json
import os
import resource
import shutil
import struct
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import percentile

WRK_TIMEOUT = "30s"


@dataclass(frozen=True)
class Target:
    """What to post: ``path`` on ``host:port`` with fixed headers, plus per-request uniqueness.

    ``key_header`` names a header given a fresh value per request; ``bodies`` (one per request,
    used in order) replaces ``body`` when set.
    """

    port: int
    path: str
    headers: dict[str, str]
    body: bytes = b""
    key_header: str | None = None
    bodies: list[bytes] = field(default_factory=list)
    host: str = "127.0.0.1"

    def requests(self) -> Iterator[bytes]:
        """Raw HTTP/1.1 requests, each unique as the target asks."""
        run = uuid.uuid4().hex[:12]
        fixed = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        bodies = iter(self.bodies) if self.bodies else itertools.repeat(self.body)
        for n, body in enumerate(bodies):
            unique = f"{self.key_header}: {run}-{n}\r\n" if self.key_header else ""
            yield (f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{fixed}{unique}"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def summary(latencies: list[float], unexpected: Counter[int], seconds: float, generator: str) -> dict[str, Any]:
    """``unexpected``: answers other than the expected status, by status (0: transport error)."""
    return {"generator": generator, "requests": len(latencies), "errors": sum(unexpected.values()),
            "errors_by_status": {str(status): n for status, n in sorted(unexpected.items())},
            "per_second": round(len(latencies) / seconds) if seconds else 0,
            "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 1)}


# ---------------------------------------------------------------------------------------------
# Raw asyncio HTTP/1.1 client
# ---------------------------------------------------------------------------------------------


class Connections:
    """Idle keep-alive connections to one server; a new one is opened when none is idle."""

    def __init__(self, target: Target):
        self.target = target
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def exchange(self, request: bytes) -> int:
        """Send one request, read its whole answer, return the status (0 on a transport error)."""
        conn = self._reusable() or await asyncio.open_connection(self.target.host, self.target.port)
        reader, writer = conn
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(_content_length(head))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return 0
        self._idle.append(conn)
        return int(head[9:12])

    def _reusable(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """An idle connection the server has not closed (uvicorn closes one idle for 5 s), or None."""
        while self._idle:
            reader, writer = self._idle.pop()
            if not reader.at_eof():
                return reader, writer
            writer.close()
        return None

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


def _content_length(head: bytes) -> int:
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line[15:])
    return 0


async def open_loop(target: Target, seconds: float, rate: float, expect: int) -> dict[str, Any]:
    """``rate`` requests/s for ``seconds``; latency from each request's scheduled departure.

    The C pacer (``bench/pacer.c``, built on first use) when a C compiler is installed, else the
    same loop in Python — which costs the shared cores about 0.2 ms per request, as much as a
    fifth of what the server spends.
    """
    requests = list(itertools.islice(target.requests(), int(seconds * rate)))
    binary = pacer_binary()
    if binary is None:
        return await python_open_loop(target, requests, rate, expect)
    return await asyncio.to_thread(pacer_open_loop, binary, target, requests, rate, expect)


def pacer_binary() -> Path | None:
    """``bench/pacer.c`` compiled once per source version into the temp directory; None without cc."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    source = Path(__file__).with_name("pacer.c")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    binary = Path(tempfile.gettempdir()) / f"tenantmail-pacer-{digest}"
    if not binary.exists():
        building = binary.with_suffix(f".{os.getpid()}")
        subprocess.run([compiler, "-O2", "-o", str(building), str(source)], check=True)
        building.replace(binary)
    return binary


def pacer_open_loop(binary: Path, target: Target, requests: list[bytes], rate: float, expect: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        requests_file, latencies_file = Path(work) / "requests", Path(work) / "latencies"
        requests_file.write_bytes(b"".join(struct.pack("<I", len(r)) + r for r in requests))
        subprocess.run([str(binary), target.host, str(target.port), str(rate), str(requests_file),
                        str(latencies_file)], check=True)
        *lines, last = latencies_file.read_text().splitlines()
    latencies, unexpected = [], Counter[int]()
    for line in lines:
        status, micros = line.split()
        latencies.append(int(micros) / 1e6)
        if int(status) != expect:
            unexpected[int(status)] += 1
    elapsed = float(last.split()[1])
    return {"target_rate": rate, **summary(latencies, unexpected, elapsed, "pacer (C, open loop)")}


async def python_open_loop(target: Target, requests: list[bytes], rate: float, expect: int) -> dict[str, Any]:
    """The fallback of :func:`open_loop` without a C compiler."""
    conns, latencies, unexpected = Connections(target), [], Counter[int]()

    async def one(request: bytes, due: float) -> None:
        status = await conns.exchange(request)
        latencies.append(time.perf_counter() - due)
        if status != expect:
            unexpected[status] += 1

    gc.collect()
    gc.disable()  # a collection in this (large) process would delay sends and be charged to the server
    try:
        began, tasks = time.perf_counter(), []
        for i, request in enumerate(requests):
            due = began + i / rate
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(request, due)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    finally:
        gc.enable()
    conns.close()
    return {"target_rate": rate, **summary(latencies, unexpected, elapsed, "python asyncio streams (open loop)")}


async def python_closed_loop(target: Target, seconds: float, concurrency: int, expect: int) -> dict[str, Any]:
    """The fallback of :func:`closed_loop` when wrk is not installed."""
    requests, latencies, unexpected = target.requests(), [], Counter[int]()
    end = time.perf_counter() + seconds

    async def user() -> None:
        conns = Connections(target)  # one connection per user, as wrk does
        for request in requests:
            if time.perf_counter() >= end:
                break
            began = time.perf_counter()
            status = await conns.exchange(request)
            latencies.append(time.perf_counter() - began)
            if status != expect:
                unexpected[status] += 1
        conns.close()

    began = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(concurrency)))
    return {"concurrency": concurrency,
            **summary(latencies, unexpected, time.perf_counter() - began, "python asyncio streams (closed loop)")}


# ---------------------------------------------------------------------------------------------
# wrk
# ---------------------------------------------------------------------------------------------

#: Each request gets a unique key header value, or the next body line; done() prints JSON.
WRK_SCRIPT = """
local headers_fixed = %(headers)s
local key_header, body, run = %(key)s, %(body)s, "%(run)s"
local bodies, counter = nil, 0
function init(args)
  if %(bodies_file)s ~= nil then
    bodies = {}
    for line in io.lines(%(bodies_file)s) do table.insert(bodies, line) end
  end
end
function request()
  counter = counter + 1
  local headers = {}
  for k, v in pairs(headers_fixed) do headers[k] = v end
  if key_header ~= nil then headers[key_header] = run .. "-" .. counter end
  local this = body
  if bodies ~= nil then this = bodies[((counter - 1) %% #bodies) + 1] end
  return wrk.format("POST", "%(path)s", headers, this)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nRESULT {"requests": %%d, "duration_us": %%d, "status_errors": %%d, '
    .. '"transport_errors": %%d, "p50_us": %%d, "p99_us": %%d}\\n', summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def _lua(value: str | None) -> str:
    return "nil" if value is None else json.dumps(value)  # a JSON string is a valid Lua string here


def wrk_script(target: Target, bodies_file: Path | None) -> str:
    headers = "{" + ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in target.headers.items()) + "}"
    return WRK_SCRIPT % {
        "headers": headers, "key": _lua(target.key_header), "body": _lua(target.body.decode()),
        "run": uuid.uuid4().hex[:12], "path": target.path,
        "bodies_file": _lua(str(bodies_file) if bodies_file else None),
    }


def wrk_closed_loop(binary: str, target: Target, seconds: float, concurrency: int) -> dict[str, Any]:
    """wrk, one thread, ``concurrency`` connections; bodies (one JSON line each) via a file."""
    with tempfile.TemporaryDirectory() as work:
        bodies_file = None
        if target.bodies:
            bodies_file = Path(work) / "bodies.txt"
            bodies_file.write_bytes(b"\n".join(target.bodies) + b"\n")
        script = Path(work) / "post.lua"
        script.write_text(wrk_script(target, bodies_file))
        out = subprocess.run(
            [binary, "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", f"--timeout={WRK_TIMEOUT}",
             "-s", str(script), f"http://{target.host}:{target.port}"],
            capture_output=True, text=True, check=True,
        ).stdout
    result = json.loads(out.split("RESULT ", 1)[1])
    elapsed = result["duration_us"] / 1e6
    return {"concurrency": concurrency, "generator": "wrk (1 thread)", "requests": result["requests"],
            "errors": result["status_errors"] + result["transport_errors"],
            "per_second": round(result["requests"] / elapsed),
            "p50_ms": round(result["p50_us"] / 1000, 1), "p99_ms": round(result["p99_us"] / 1000, 1)}


async def closed_loop(target: Target, seconds: float, concurrency: int, expect: int) -> dict[str, Any]:
    """wrk when installed (its Lua counts only 2xx/3xx as success), else the Python fallback.

    With ``target.bodies`` wrk cycles through them, so give at least as many as it can send.
    """
    binary = shutil.which("wrk")
    if binary is None:
        return await python_closed_loop(target, seconds, concurrency, expect)
    return await asyncio.to_thread(wrk_closed_loop, binary, target, seconds, concurrency)


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    """``asyncio.run`` on uvloop when it is installed (a cheaper client loop), else the default."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())  # type: ignore[arg-type]
    return uvloop.run(main())  # type: ignore[arg-type]


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` and its live descendants (Linux /proc).

    CPU per request of the API processes is the figure that noise on a shared machine moves least.
    """
    total, pending = 0.0, [pid]
    ticks = os.sysconf("SC_CLK_TCK")
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:  # the process ended meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        pending.extend(int(child) for child in children)
    return total


def generator_cpu_seconds() -> float:
    """CPU seconds of this process and of its ended children (wrk and the pacer run to completion)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def postgresql_pid() -> int | None:
    """The local PostgreSQL postmaster: the ``postgres`` process whose parent is not one (Linux /proc)."""
    def comm(pid: str) -> str:
        try:
            return Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return ""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and comm(entry.name) == "postgres":
            try:
                parent = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1]
            except OSError:
                continue
            if comm(parent) != "postgres":
                return int(entry.name)
    return None


async def metered(server_pid: int, phase: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """Run a load phase and add CPU milliseconds per answered request: the API processes', the
    load generator's (wrk, the pacer or this process) and, when PostgreSQL runs on this machine,
    its backends' — where the machine's two cores went."""
    sources: dict[str, Callable[[], float]] = {
        "api": lambda: process_tree_cpu_seconds(server_pid), "generator": generator_cpu_seconds,
    }
    if (database := postgresql_pid()) is not None:
        sources["postgresql"] = lambda: process_tree_cpu_seconds(database)
    before = {name: read() for name, read in sources.items()}
    result = await phase
    answered = max(1, result["requests"])
    return {**result, **{f"{name}_cpu_ms_per_request": round((read() - before[name]) * 1000 / answered, 2)
                         for name, read in sources.items()}}
