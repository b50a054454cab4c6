"""Group commit: many requests' statements, one transaction, one commit — on both databases.

Each send and each webhook is a short *unit* of statements (:mod:`sends`, :mod:`webhook_events`)
that must commit on its own. Run one at a time, every unit pays a commit (PostgreSQL: also a round
trip and a wake-up of its backend; SQLite: a hop to its thread and the single writer's lock). Here
the units that arrive while earlier ones are in flight wait in a queue, and each free *lane* (one
connection, :mod:`postgres_lane` or :mod:`sqlite_lane`) runs everything waiting, up to
``MOST_PER_BATCH``, in order in one transaction.

* Nothing waits for a batch to fill: a unit that finds a lane free goes at once (alone, its own
  transaction), so an idle service answers as fast as before. Batches form only while every lane
  is busy, which is exactly when the fixed costs matter.
* A caller gets its row only after the commit that contains its unit.
* Units of one batch run in arrival order in one transaction: a later one sees the earlier ones'
  writes (two events of one job, two sends with one key behave as in sequence).
* A batch is all or nothing. When one unit fails (a lock wait past the lane's limit, a deadlock
  with another batch) the transaction rolls back, nothing of the batch is stored, and each unit is
  then run again alone, so each caller gets its own outcome, its own error included. A lost
  connection fails the batch's callers (503) and the lane opens a new one for the next batch.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tenantmail.services.ports import Telemetry

#: Most units in one batch: bounds one transaction's size and the wait of its first caller.
MOST_PER_BATCH = 64

Row = dict[str, Any]


class DatabaseUnavailable(Exception):
    """The lane could not reach its database (down, unreachable, shutting down): the API answers
    503 and the caller retries. Raised with the driver's error as its cause."""


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: Mapping[str, Any]
    #: a channel to wake once the statement's batch commits (``tenantmail_jobs`` for a new job): the
    #: lane wakes it once per batch, whatever the number of such statements (SPEC §16, D19)
    wakes: str | None = None


def channels_woken(units: Sequence[Sequence[Statement]]) -> list[str]:
    """The channels a batch wakes, each once, in a stable order."""
    return sorted({statement.wakes for unit in units for statement in unit if statement.wakes})


#: One request's statements, run in order in one transaction; its row merges their first rows.
Unit = Sequence[Statement]


@dataclass(frozen=True, slots=True)
class UnitResult:
    """One unit's answer: its row (None when no statement returned one) and each statement's first
    row, or its own error."""

    row: Row | None = None
    error: Exception | None = None
    rows: tuple[Row | None, ...] = ()


class Lane(Protocol):
    """One connection that runs batches, one at a time."""

    async def run(self, units: Sequence[Unit]) -> list[UnitResult]:
        """Each unit's result, in order, all in one transaction: committed if and only if no result
        has an error. Raises when the connection is lost (the lane opens a new one next time)."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Waiting:
    unit: Unit
    row: asyncio.Future[UnitResult]


class GroupCommit:
    """Runs units for concurrent callers, batched while every lane is busy."""

    def __init__(self, lanes: Sequence[Lane], *, most_per_batch: int = MOST_PER_BATCH,
                 telemetry: Telemetry | None = None) -> None:
        self._free = list(lanes)
        self._lanes = tuple(lanes)
        self._most = most_per_batch
        self._telemetry = telemetry
        self._waiting: deque[_Waiting] = deque()
        self._running: set[asyncio.Task[None]] = set()
        self.batches = 0  #: transactions of two or more units so far

    @property
    def queued(self) -> int:
        """Units waiting for a lane (for tests and gauges)."""
        return len(self._waiting)

    @property
    def busy_lanes(self) -> int:
        return len(self._lanes) - len(self._free)

    async def run_committed(self, *unit: Statement) -> Row | None:
        """Runs ``unit``'s statements in one transaction (shared with whatever else is waiting)
        and returns their merged row once that transaction has committed; raises the unit's error."""
        return (await self._committed(unit)).row

    async def run_committed_rows(self, *unit: Statement) -> tuple[Row | None, ...]:
        """As :meth:`run_committed`, with each statement's own first row (None: it returned none)."""
        return (await self._committed(unit)).rows

    async def _committed(self, unit: Sequence[Statement]) -> UnitResult:
        waiting = _Waiting(unit, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if self._free:
            task = asyncio.create_task(self._drain(self._free.pop()))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        try:  # shielded: a caller that goes away (client disconnect) does not cancel the others' batch
            return await asyncio.shield(waiting.row)
        except asyncio.CancelledError:
            waiting.row.add_done_callback(_retrieved)  # the unit still runs; its error is nobody's
            raise

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        for lane in self._lanes:
            await lane.close()

    async def _drain(self, lane: Lane) -> None:
        """One lane: run what is waiting, batch after batch, until nothing is."""
        try:
            while self._waiting:
                batch = [self._waiting.popleft() for _ in range(min(self._most, len(self._waiting)))]
                await self._run(lane, batch)
        finally:
            self._free.append(lane)

    async def _run(self, lane: Lane, batch: list[_Waiting]) -> None:
        if len(batch) > 1:
            self._count_batch(len(batch))
        try:
            results = await lane.run([w.unit for w in batch])
            if len(batch) > 1 and any(r.error is not None for r in results):
                for waiting in batch:  # rolled back as a whole: each again alone, answered as it commits
                    _settle(waiting, (await lane.run([waiting.unit]))[0])
                return
        except BaseException as exc:  # no connection (503 to each caller), one lost mid-batch, shutdown
            _fail(batch, exc)  # the callers not answered yet
            if not isinstance(exc, Exception):
                raise
            return
        for waiting, result in zip(batch, results, strict=True):
            _settle(waiting, result)

    def _count_batch(self, size: int) -> None:
        self.batches += 1
        if self._telemetry is not None:  # email_db_batch_commit_total{statements=…}: how much is shared
            self._telemetry.emit("email.db.batch_commit", labels={"statements": _size_class(size)}, level="debug")


def _settle(waiting: _Waiting, result: UnitResult) -> None:
    if waiting.row.done():
        return
    if result.error is not None:
        waiting.row.set_exception(result.error)
    else:
        waiting.row.set_result(result)


def _fail(batch: list[_Waiting], exc: BaseException) -> None:
    error = exc if isinstance(exc, Exception) else DatabaseUnavailable("the service is shutting down")
    for waiting in batch:
        if not waiting.row.done():
            waiting.row.set_exception(error)


def _size_class(n: int) -> str:
    return "2-4" if n <= 4 else "5-16" if n <= 16 else f"17-{MOST_PER_BATCH}"


def _retrieved(row: asyncio.Future[UnitResult]) -> None:
    if not row.cancelled():
        row.exception()
