"""A group-commit lane on PostgreSQL: one psycopg connection, a batch as one pipeline.

A batch goes out through psycopg's public pipeline: consecutive units with the same statement
text share one ``executemany(returning=True)`` (psycopg prepares the statement once per connection
and binds each unit's parameters), and one Sync at the end, so PostgreSQL runs the whole batch in
order as one implicit transaction and commits it once. After a batch holding new jobs has
committed, one ``pg_notify('tenantmail_jobs', '')`` wakes the listening workers (see ``_notify``).
A batch whose items take shares (a tenant's quota tokens, :class:`~.group_commit.Share`) takes
them first, in a transaction of its own (see ``_take``), and gives back what it did not use.

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
    Allotment, DatabaseUnavailable, Row, Share, Statement, Unit, UnitResult, channels_woken, share_statement,
    shares_asked,
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
        allotment: Allotment | None = None
        try:
            asked = shares_asked(units)
            allotment = Allotment(units, await _take(conn, asked)) if asked else None
            rows = await _pipeline(conn, allotment.units if allotment is not None else units)
        except psycopg.Error as exc:
            if conn.broken or conn.closed:  # the connection is gone (and with it any shares taken)
                await self._drop()
                raise DatabaseUnavailable(str(exc)) from exc
            if conn.info.transaction_status is not TransactionStatus.IDLE:
                await self._drop()
            elif allotment is not None:  # the batch rolled back: its units take again, alone
                await self._give_back(conn, allotment.granted())
            return [UnitResult(error=exc)] * len(units)  # a statement failed: rolled back at the Sync
        except BaseException:  # cancelled mid-batch: what the server did is unknown, never reuse it
            await self._drop()
            raise
        if allotment is not None and (unused := allotment.unused([each for _, each in rows])):
            await self._give_back(conn, unused)
        if channels := channels_woken(units):
            await self._notify(conn, channels)
        shares = allotment.shares if allotment is not None else [()] * len(units)
        return [UnitResult(row=merged, rows=tuple(each), shares=taken)
                for (merged, each), taken in zip(rows, shares, strict=True)]

    async def _give_back(self, conn: Connection, shares: list[tuple[Share, int]]) -> None:
        """Returns shares the batch took and did not use. Best effort, like a lost connection's:
        shares not returned are missing from the counter until it refills (quota tokens)."""
        try:
            async with conn.pipeline(), conn.cursor() as cursor:
                for share, n in shares:
                    statement = share_statement(share, n, give_back=True)
                    await cursor.execute(statement.sql, statement.params)
        except psycopg.Error:
            if conn.broken or conn.closed or conn.info.transaction_status is not TransactionStatus.IDLE:
                await self._drop()

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


async def _take(conn: Connection, asked: list[tuple[Share, int]]) -> dict[str, Row]:
    """Each pool's take row, committed in a transaction of its own before the batch runs.

    Its own transaction holds a hot counter row (one busy tenant's bucket) locked for a statement,
    where inside the batch it would stay locked until the batch commits, and every other lane's
    batch with that tenant would wait for it. It commits without waiting for the WAL flush
    (``synchronous_commit`` off): the batch's own commit, later in the WAL, flushes it; a server
    crash in between loses at most that take, never a job."""
    taken: dict[str, Row] = {}
    for share, n in asked:  # mostly one: a batch's sends are mostly one tenant's
        statement = share_statement(share, n)
        cursor = await conn.execute(_ASYNC_COMMIT.format(statement.sql), statement.params)
        taken[share.pool] = _taken(await cursor.fetchone())
    return taken


#: a statement whose transaction commits without waiting for the WAL flush (``SET LOCAL`` as part of it)
_ASYNC_COMMIT = ("WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true)),"
                 " statement AS ({}) SELECT statement.* FROM statement, async_commit")


def _taken(row: Row | None) -> Row:
    assert row is not None  # the take's upsert always returns its row
    return row


async def _pipeline(
    conn: Connection, units: Sequence[Sequence[Statement | None]],
) -> list[tuple[Row | None, list[Row | None]]]:
    """Every unit's merged row and its statements' own rows (None: no row, or not run: None in
    ``units``); the batch is committed when this returns."""
    rows: list[Row | None] = [None] * len(units)
    each: list[list[Row | None]] = [[None] * len(unit) for unit in units]
    flat = [(index, position, statement) for index, unit in enumerate(units)
            for position, statement in enumerate(unit) if statement is not None]
    async with conn.pipeline(), conn.cursor() as cursor:
        for sql, run in groupby(flat, key=_text):
            run = list(run)
            await cursor.executemany(sql, [statement.params for _, _, statement in run], returning=True)
            for index, position, _ in run:
                found = await cursor.fetchone() if cursor.description is not None else None
                each[index][position] = found
                if found is not None:
                    rows[index] = {**(rows[index] or {}), **found}
                cursor.nextset()
    return list(zip(rows, each, strict=True))  # the pipeline's Sync has been answered: committed


def _text(item: tuple[int, int, Statement]) -> str:
    return item[2].sql
