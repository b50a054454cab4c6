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
* What units take from a shared counter (a tenant's quota tokens) is taken once per batch, not
  once per unit: see :class:`Share`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
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
class Share:
    """One of something every item of a batch takes from a counter all processes share (a tenant's
    quota tokens, SPEC §17), taken for the whole batch at once.

    The statement that carries a share starts an *item*: it and the unit's statements after it, up to
    the next one with a share, run only if the item gets its share. The lane runs ``take`` once per
    ``pool`` per batch, with ``n`` = how many of the batch's items ask for one (the item's ``params``
    plus ``n``); the take's row says in ``granted`` how many it got, and the first ``granted`` items in
    arrival order run. The others run nothing and are answered with the take's row (``granted`` 0).
    An item that ran but whose last statement returned no row (its gates no longer held, its key
    was taken meanwhile) did not use its share: ``give_back`` (same parameters, ``n`` = how many)
    returns it before the batch ends. One counter update per pool and batch replaces one per item:
    on PostgreSQL the lane runs the takes in a short transaction of their own, so a hot counter
    row (one busy tenant) is not held locked while a whole batch runs and commits (D21).
    """

    pool: str
    take: str
    give_back: str
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: Mapping[str, Any]
    #: a channel to wake once the statement's batch commits (``tenantmail_jobs`` for a new job): the
    #: lane wakes it once per batch, whatever the number of such statements (SPEC §16, D19)
    wakes: str | None = None
    #: this statement starts an item that runs only with its share (:class:`Share`)
    share: Share | None = None


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
    rows: tuple[Row | None, ...] = ()  #: None also for a statement not run (its item got no share)
    shares: tuple[Row, ...] = ()  #: per item with a :class:`Share`: the take's row, ``granted`` 1 or 0


class Allotment:
    """A batch's shares, decided: which items run, given each pool's take row (:class:`Share`).

    ``units`` are the batch's units with the statements of the items that got no share replaced by
    None (the lane skips them); ``shares`` each unit's take rows, per item, ``granted`` 1 or 0.
    """

    def __init__(self, units: Sequence[Unit], taken: Mapping[str, Row]) -> None:
        left = {pool: int(row["granted"]) for pool, row in taken.items()}
        self.units: list[list[Statement | None]] = []
        self.shares: list[tuple[Row, ...]] = []
        self._ran: list[tuple[int, int, Share]] = []  #: (unit, its item's last statement, share) of items that ran
        for index, unit in enumerate(units):
            kept: list[Statement | None] = []
            shares: list[Row] = []
            running = True
            for position, statement in enumerate(unit):
                if (share := statement.share) is not None:
                    running = left[share.pool] > 0
                    left[share.pool] -= running
                    shares.append({**taken[share.pool], "granted": int(running)})
                    if running:
                        self._ran.append((index, _item_end(unit, position), share))
                kept.append(statement if running else None)
            self.units.append(kept)
            self.shares.append(tuple(shares))

    def granted(self) -> list[tuple[Share, int]]:
        """Every share the batch was given, per pool (to return them all when the batch fails)."""
        return _per_pool(share for _, _, share in self._ran)

    def unused(self, rows: Sequence[Sequence[Row | None]]) -> list[tuple[Share, int]]:
        """The shares of items that ran without their last statement returning a row, per pool."""
        return _per_pool(share for index, last, share in self._ran if rows[index][last] is None)


def shares_asked(units: Sequence[Unit]) -> list[tuple[Share, int]]:
    """Each pool's take for a batch: its first item's share and how many items ask, in first-asked order."""
    return _per_pool(statement.share for unit in units for statement in unit if statement.share is not None)


def share_statement(share: Share, n: int, *, give_back: bool = False) -> Statement:
    return Statement(share.give_back if give_back else share.take, {**share.params, "n": n})


def _per_pool(shares: Iterable[Share]) -> list[tuple[Share, int]]:
    counted: dict[str, tuple[Share, int]] = {}
    for share in shares:
        first, n = counted.get(share.pool, (share, 0))
        counted[share.pool] = (first, n + 1)
    return list(counted.values())


def _item_end(unit: Unit, start: int) -> int:
    """The last statement of the item that starts at ``start``."""
    end = start + 1
    while end < len(unit) and unit[end].share is None:
        end += 1
    return end - 1


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

    async def run_committed_result(self, *unit: Statement) -> UnitResult:
        """As :meth:`run_committed`, with each statement's own first row (None: it returned none or
        did not run) and each item's share (:class:`Share`)."""
        return await self._committed(unit)

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
