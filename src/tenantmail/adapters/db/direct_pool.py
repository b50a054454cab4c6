"""Direct psycopg connections for the two hot paths on PostgreSQL: ``POST /job`` and the webhook.

SQLAlchemy's async layer costs about 100 µs of CPU per statement on top of psycopg's own (its
greenlet bridge, execution context, result wrapping) and a ROLLBACK round trip on every check-in;
on the hot paths that was most of the API's CPU per request. These paths run a few hand-built
statements (:mod:`send_intake`, :mod:`event_intake`) on connections from this small pool instead;
everything else stays on the engine.

The connections are autocommit (each hot statement is its own transaction), use server-side
prepared statements from the first execution, speak UTC and UTF-8, and never wait longer than
``LOCK_WAIT`` for a row lock: past it the statement fails with LockNotAvailable, which the send
path answers 409 (key in flight) and the webhook 503 (Postmark retries). Like the engine's pool
there is no pre-ping: a connection that died fails its statement (503 to the client) and is
dropped; a new one is opened on demand, so a database that is down fails fast rather than
queueing requests.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row
from sqlalchemy.engine import make_url

LOCK_WAIT = "2s"  #: longest wait for a row lock: a send's key held by a request in flight, a webhook's job
MAX_LIFETIME_SECONDS = 300.0  #: as the engine's pool_recycle
WAIT_SECONDS = 30.0  #: longest wait for a free connection (as the engine's pool_timeout), then 503
ENCODING = "utf-8"  #: the connections' client encoding, whatever the database's
OPTIONS = f"-c lock_timeout={LOCK_WAIT} -c TimeZone=UTC -c client_encoding=UTF8"

Connection = psycopg.AsyncConnection[DictRow]


def libpq_url(url: str) -> str:
    """A plain ``postgresql://`` URL for libpq, whatever driver suffix the setting carries."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class DirectPool:
    """At most ``max_size`` connections in use; idle ones are reused LIFO, then closed by age."""

    def __init__(self, url: str, *, max_size: int = 20) -> None:
        self._url = libpq_url(url)
        self._idle: deque[tuple[Connection, float]] = deque()
        self._slots = asyncio.Semaphore(max_size)
        self._closed = False

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection for one request; returned to the pool only if left idle and healthy.

        Raises psycopg.OperationalError (503) when none frees up within ``WAIT_SECONDS``."""
        if self._slots.locked():  # all in use: wait, boundedly (no timer on the common path)
            try:
                async with asyncio.timeout(WAIT_SECONDS):
                    await self._slots.acquire()
            except TimeoutError:
                raise psycopg.OperationalError(f"no database connection free within {WAIT_SECONDS:g} s") from None
        else:
            await self._slots.acquire()
        try:
            conn, born = await self._take()
            try:
                yield conn
            finally:
                await self._give_back(conn, born)
        finally:
            self._slots.release()

    async def _take(self) -> tuple[Connection, float]:
        now = time.monotonic()
        while self._idle:
            conn, born = self._idle.pop()
            if not conn.closed and now - born < MAX_LIFETIME_SECONDS:
                return conn, born
            await conn.close()
        conn = await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, prepare_threshold=0, row_factory=dict_row, options=OPTIONS,
        )
        return conn, now

    async def _give_back(self, conn: Connection, born: float) -> None:
        healthy = not conn.closed and conn.info.transaction_status is TransactionStatus.IDLE
        if healthy and not self._closed:
            self._idle.append((conn, born))
        else:
            await conn.close()  # a broken or mid-transaction connection is never reused

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            conn, _ = self._idle.pop()
            await conn.close()

