"""A group-commit lane on PostgreSQL: one psycopg connection, a batch as one pipeline.

A batch goes out through psycopg's public pipeline: consecutive units with the same statement
text share one ``executemany(returning=True)`` (psycopg prepares the statement once per connection
and binds each unit's parameters), and one Sync at the end, so PostgreSQL runs the whole batch in
order as one implicit transaction and commits it once. After a batch holding new jobs has
committed, one ``pg_notify('tenantmail_jobs', '')`` wakes the listening workers (see ``_notify``).

The connection is autocommit (a lone unit is its own transaction), speaks UTC and UTF-8, and never
waits longer than ``LOCK_WAIT`` for a row lock: past it the statement fails with LockNotAvailable,
which the send path answers 409 (key in flight) and the webhook 503 (Postmark retries). Like the
engine's pool there is no pre-ping: a connection that died fails its batch (503 to the callers)
and is replaced for the next one; it is also replaced after ``MAX_LIFETIME_SECONDS``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from itertools import groupby

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row
from sqlalchemy.engine import make_url

from tenantmail.adapters.db.intake.group_commit import (
    DatabaseUnavailable, Row, Statement, Unit, UnitResult, channels_woken,
)

LOCK_WAIT = "2s"  #: longest wait for a row lock: a send's key held by a request in flight, a webhook's job
MAX_LIFETIME_SECONDS = 300.0  #: as the engine's pool_recycle
CONNECT_TIMEOUT_SECONDS = 10
OPTIONS = f"-c lock_timeout={LOCK_WAIT} -c TimeZone=UTC -c client_encoding=UTF8"

Connection = psycopg.AsyncConnection[DictRow]


def libpq_url(url: str) -> str:
    """A plain ``postgresql://`` URL for libpq, whatever driver suffix the setting carries."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresLane:
    """Runs batches on one connection of its own, opened on first use and after a loss."""

    def __init__(self, url: str) -> None:
        self._url = libpq_url(url)
        self._conn: Connection | None = None
        self._born = 0.0

    async def run(self, units: Sequence[Unit]) -> list[UnitResult]:
        conn = await self._connection()
        try:
            rows = await _pipeline(conn, units)
        except psycopg.Error as exc:
            if conn.broken or conn.closed:  # the connection is gone
                await self._drop()
                raise DatabaseUnavailable(str(exc)) from exc
            if conn.info.transaction_status is not TransactionStatus.IDLE:
                await self._drop()
            return [UnitResult(error=exc)] * len(units)  # a statement failed: rolled back at the Sync
        except BaseException:  # cancelled mid-batch: what the server did is unknown, never reuse it
            await self._drop()
            raise
        if channels := channels_woken(units):
            await self._notify(conn, channels)
        return [UnitResult(row=merged, rows=tuple(each)) for merged, each in rows]

    async def _notify(self, conn: Connection, channels: list[str]) -> None:
        """Once the batch has committed, one NOTIFY per channel, in a transaction of its own.

        Not inside the batch: PostgreSQL serialises the commits of notifying transactions on a
        server-wide lock, which the batch (its row locks, its callers) should not wait for, and a
        wait past ``lock_timeout`` there would fail the whole batch. Here a failure costs only a
        wake-up: the workers' poll finds the jobs."""
        try:
            for channel in channels:
                await conn.execute("SELECT pg_notify(%s, '')", (channel,))
        except psycopg.Error:
            if conn.broken or conn.closed or conn.info.transaction_status is not TransactionStatus.IDLE:
                await self._drop()

    async def close(self) -> None:
        await self._drop()

    async def _connection(self) -> Connection:
        conn = self._conn
        if conn is not None and not conn.closed and time.monotonic() - self._born < MAX_LIFETIME_SECONDS:
            return conn
        await self._drop()
        try:
            self._conn = await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, prepare_threshold=0, row_factory=dict_row, options=OPTIONS,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
            )
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(str(exc)) from exc
        self._born = time.monotonic()
        return self._conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()


async def _pipeline(conn: Connection, units: Sequence[Unit]) -> list[tuple[Row | None, list[Row | None]]]:
    """Every unit's merged row and its statements' own rows; the batch is committed when this returns."""
    rows: list[Row | None] = [None] * len(units)
    each: list[list[Row | None]] = [[] for _ in units]
    flat = [(index, statement) for index, unit in enumerate(units) for statement in unit]
    async with conn.pipeline(), conn.cursor() as cursor:
        for sql, run in groupby(flat, key=_text):
            run = list(run)
            await cursor.executemany(sql, [statement.params for _, statement in run], returning=True)
            for index, _ in run:
                found = await cursor.fetchone() if cursor.description is not None else None
                each[index].append(found)
                if found is not None:
                    rows[index] = {**(rows[index] or {}), **found}
                cursor.nextset()
    return list(zip(rows, each, strict=True))  # the pipeline's Sync has been answered: committed


def _text(item: tuple[int, Statement]) -> str:
    return item[1].sql
