"""A group-commit lane on SQLite: one sqlite3 connection in a thread of its own.

SQLite has one writer. Before, each send and each webhook took it through the unit of work: a
``BEGIN IMMEDIATE``, a few statements and a ``COMMIT``, every one a hop through aiosqlite's
thread, and the writer lock once per request. Here a whole batch is one hop: the lane's thread
runs ``BEGIN IMMEDIATE``, every unit's statements, ``COMMIT``, and hands the rows back. The lane
queues for the process's writer lock (:func:`~tenantmail.adapters.db.engine.sqlite_writer_queue`)
like any unit of work, so the worker's transactions and the batches take turns in FIFO order.

A batch whose items take shares (a tenant's quota tokens, :class:`~.group_commit.Share`) takes
them first and gives back what it did not use, all in the batch's transaction (the single writer
holds every row anyway). A committed batch holding new jobs wakes the process's dispatch (an
in-process event: the embedded default is one process). The connection has the engine's pragmas
(WAL, busy timeout, synchronous=NORMAL, foreign keys).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, nullcontext

from sqlalchemy.engine import make_url

from tenantmail.adapters.db.engine import SQLITE_BUSY_TIMEOUT_MS, sqlite_pragmas
from tenantmail.adapters.db.intake.group_commit import (
    Allotment, DatabaseUnavailable, Row, Statement, Unit, UnitResult, channels_woken, share_statement, shares_asked,
)

#: The errors that say the database cannot be used now (503), not that a statement is wrong.
_UNAVAILABLE = ("database is locked", "unable to open", "disk I/O error", "database or disk is full")


class SqliteLane:
    """Runs batches on one connection, in one thread, taking the process's writer lock for each."""

    def __init__(self, url: str, writer_queue: Callable[[], asyncio.Lock | None],
                 wake: Callable[[str], None] | None = None) -> None:
        path = make_url(url).database
        if not path or path == ":memory:":
            raise ValueError("the SQLite intake needs a database file (an in-memory one is per connection)")
        self._path = path
        self._writer_queue = writer_queue
        self._wake = wake  #: the in-process wake-up of a channel, called after a commit that woke it
        self._thread: ThreadPoolExecutor | None = None  #: started on first use, again after close()
        self._conn: sqlite3.Connection | None = None

    async def run(self, units: Sequence[Unit]) -> list[UnitResult]:
        lock = self._writer_queue()
        held: AbstractAsyncContextManager[object] = lock if lock is not None else nullcontext()
        async with held:
            if self._thread is None:
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="tenantmail-sqlite-lane")
            results = await asyncio.get_running_loop().run_in_executor(self._thread, self._batch, units)
        if self._wake is not None and all(r.error is None for r in results):  # committed
            for channel in channels_woken(units):
                self._wake(channel)
        return results

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:  # after the batch in flight, if any
            await asyncio.get_running_loop().run_in_executor(thread, self._close)
            thread.shutdown(wait=False)

    # --- in the lane's thread ---

    def _batch(self, units: Sequence[Unit]) -> list[UnitResult]:
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            results = _units(conn, units)
            conn.execute("ROLLBACK" if results[-1].error is not None else "COMMIT")
        except sqlite3.Error as exc:
            self._close()
            if _unavailable(exc):
                raise DatabaseUnavailable(str(exc)) from exc
            raise
        return results

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
            sqlite_pragmas(conn, None)
            self._conn = conn
        return self._conn

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _units(conn: sqlite3.Connection, units: Sequence[Unit]) -> list[UnitResult]:
    """Every unit's result, in the open transaction: its shares taken first, the unused given back;
    after a unit's error the others are void (the batch rolls back and each runs again alone)."""
    allotment: Allotment | None = None
    if asked := shares_asked(units):
        taken: dict[str, Row] = {}
        for share, n in asked:
            found = _statement(conn, share_statement(share, n))
            if isinstance(found, UnitResult):
                return [found] * len(units)
            assert found is not None  # the take's upsert always returns its row
            taken[share.pool] = found
        allotment = Allotment(units, taken)
    results: list[UnitResult] = []
    for index, unit in enumerate(allotment.units if allotment is not None else units):
        results.append(_unit(conn, unit, allotment.shares[index] if allotment is not None else ()))
        if results[-1].error is not None:
            return [results[-1]] * len(units)
    if allotment is not None:
        for share, n in allotment.unused([result.rows for result in results]):
            given = _statement(conn, share_statement(share, n, give_back=True))
            if isinstance(given, UnitResult):
                return [given] * len(units)
    return results


def _unit(conn: sqlite3.Connection, unit: Sequence[Statement | None], shares: tuple[Row, ...]) -> UnitResult:
    row: Row | None = None
    each: list[Row | None] = []
    for statement in unit:
        first = _statement(conn, statement) if statement is not None else None
        if isinstance(first, UnitResult):
            return first
        each.append(first)
        if first is not None:
            row = {**(row or {}), **first}
    return UnitResult(row=row, rows=tuple(each), shares=shares)


def _statement(conn: sqlite3.Connection, statement: Statement) -> Row | None | UnitResult:
    """The statement's first row, or the UnitResult of its error."""
    try:
        cursor = conn.execute(statement.sql, statement.params)
        found = cursor.fetchall()
    except sqlite3.Error as exc:
        return UnitResult(error=DatabaseUnavailable(str(exc)) if _unavailable(exc) else exc)
    return dict(zip([d[0] for d in cursor.description], found[0], strict=True)) if found else None


def _unavailable(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and any(s in str(exc) for s in _UNAVAILABLE)
