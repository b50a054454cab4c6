"""Dispatch wake-up: new jobs wake a waiting worker instead of its next poll (SPEC §16, D19).

* :class:`LocalJobWakeup` — an in-process event. The embedded default (SQLite, one process) sets it
  when the intake commits a batch holding new jobs (``sqlite_lane``).
* :class:`PostgresJobListener` — ``LISTEN tenantmail_jobs`` on a connection of its own; the
  intake's PostgreSQL lane commits one ``NOTIFY tenantmail_jobs`` with every batch holding new
  jobs (``postgres_lane``), so every listening worker, on any machine, hears of them once the jobs
  are visible. The listener reconnects when its connection is lost (server restart, a terminated
  backend, a silent network: a liveness query every ``KEEPALIVE_SECONDS``), and wakes one pass on
  every (re)connect, since whatever was committed while it was not listening went unheard.

A wake-up is only a hint: the worker still polls every ``TENANTMAIL_WORKER_POLL_SECONDS``, so a
lost notification delays a job by at most one poll and never loses it (the jobs table is the queue).
"""

from __future__ import annotations

import asyncio
import contextlib

import psycopg
import structlog

from tenantmail.adapters.db.intake.postgres_lane import CONNECT_TIMEOUT_SECONDS, libpq_url
from tenantmail.adapters.db.intake.sends import JOBS_CHANNEL as CHANNEL

log = structlog.get_logger("tenantmail.dispatch")

KEEPALIVE_SECONDS = 30.0  #: a quiet listener checks its connection this often
RETRY_FIRST_SECONDS = 0.2  #: first wait before reconnecting; doubles up to RETRY_MOST_SECONDS
RETRY_MOST_SECONDS = 5.0
APPLICATION_NAME = "tenantmail-jobs-listener"  #: how operators (and tests) find it in pg_stat_activity


class LocalJobWakeup:
    """An in-process wake-up: ``notify`` sets it, ``wait`` returns when it was set since ``clear``."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def start(self) -> None:
        """Begin listening (the dispatch loop calls it as it starts)."""

    def notify(self) -> None:
        self._event.set()

    def clear(self) -> None:
        """Called before a claim: a notification arriving from here on wakes the next wait."""
        self._event.clear()

    async def wait(self, timeout: float) -> bool:
        """True when woken, False when ``timeout`` passed first (the poll)."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        return None


class PostgresJobListener(LocalJobWakeup):
    """``LISTEN tenantmail_jobs``, started by the dispatch loop (API processes never open it)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = libpq_url(url)
        self._task: asyncio.Task[None] | None = None
        self.backend_pid: int | None = None  #: the listening connection's backend, None while down
        self.connects = 0  #: successful LISTENs so far (1 + reconnects)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="tenantmail-jobs-listener")

    async def wait(self, timeout: float) -> bool:
        self.start()
        return await super().wait(timeout)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen(self) -> None:
        delay = RETRY_FIRST_SECONDS
        while True:
            connects = self.connects
            try:
                await self._listen_once()
            except (psycopg.Error, OSError) as exc:  # lost or refused: polling covers the gap
                self.backend_pid = None
                if self.connects > connects:  # it had been listening: try again soon
                    delay = RETRY_FIRST_SECONDS
                log.warning("email.dispatch.listener_lost", error=str(exc).strip(), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MOST_SECONDS)

    async def _listen_once(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS, application_name=APPLICATION_NAME,
        ) as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            self.backend_pid = conn.info.backend_pid
            self.connects += 1
            if self.connects > 1:
                log.info("email.dispatch.listener_reconnected", connects=self.connects)
            self.notify()  # what was committed while nobody listened: one pass finds it
            while True:
                async for _ in conn.notifies(timeout=KEEPALIVE_SECONDS):
                    self.notify()
                await conn.execute("SELECT 1")  # quiet for a while: is the connection still there?
