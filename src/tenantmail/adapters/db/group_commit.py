"""Group commit for the hot paths' statements: many requests' statements, one round trip, one commit.

Each send and each webhook is one self-contained statement (:mod:`send_intake`,
:mod:`event_intake`). Run one at a time, every statement pays a round trip, a commit and a wake-up
of its PostgreSQL backend; those fixed costs were most of the database's CPU per request. Here the
statements that arrive while earlier ones are in flight wait in a queue, and each free *lane* (one
pooled connection) sends everything waiting, up to ``MOST``, as one pipeline with a single Sync
(:mod:`statement_pipeline`): PostgreSQL runs them in order in one implicit transaction and
commits them together.

* Nothing waits for a batch to fill: a statement that finds a lane free goes at once (alone, its
  own transaction), so an idle service answers as fast as before. Batches form only while every
  lane is busy, which is exactly when the fixed costs matter.
* A caller gets its row only after the commit that contains its statement.
* Statements of one batch run in arrival order in one transaction: a later statement sees the
  earlier ones' writes (two events of one job, two sends with one key behave as in sequence).
* A batch is all or nothing. When one statement fails (a lock wait past ``LOCK_WAIT``, a
  deadlock with another batch, a lost connection) the transaction rolls back, nothing of the
  batch is stored, and each statement is then run again alone, so each caller gets its own
  outcome, its own error included.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import DictRow

from tenantmail.adapters.db.direct_pool import Connection, DirectPool
from tenantmail.adapters.db.statement_pipeline import Outcome, StatementPipeline
from tenantmail.services.ports import Telemetry

#: Concurrent batches per process (docs/performance.md). Four split the load into batches too
#: small to pay (sends 3,000/s against 3,400–3,550/s with two); one lane gave sends ~7 % more,
#: webhooks nothing, but lets one statement waiting on a row lock hold up every request of the
#: process. Two: a lane stays free while the other waits.
LANES = 2
#: Most statements in one batch: bounds one transaction's size and the wait of its first caller.
MOST = 64


@dataclass(frozen=True, slots=True)
class _Statement:
    sql: str
    params: Mapping[str, Any]
    row: asyncio.Future[DictRow | None]


class GroupCommit:
    """Runs single statements for concurrent callers, batched while the lanes are busy."""

    def __init__(self, pool: DirectPool, *, lanes: int = LANES, most: int = MOST,
                 telemetry: Telemetry | None = None) -> None:
        self._pool = pool
        self._telemetry = telemetry
        self._lanes = lanes
        self._most = most
        self._waiting: deque[_Statement] = deque()
        self._busy = 0
        self._running: set[asyncio.Task[None]] = set()
        self._wires: weakref.WeakKeyDictionary[Connection, StatementPipeline] = weakref.WeakKeyDictionary()
        self.batches = 0  #: pipelines of two or more statements sent so far

    async def fetchone(self, sql: str, params: Mapping[str, Any]) -> DictRow | None:
        """The statement's first row (None if it returns none), once it is committed."""
        statement = _Statement(sql, params, asyncio.get_running_loop().create_future())
        self._waiting.append(statement)
        if self._busy < self._lanes:
            self._busy += 1
            task = asyncio.create_task(self._drain())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        try:  # shielded: a caller that goes away (client disconnect) does not cancel the others' batch
            return await asyncio.shield(statement.row)
        except asyncio.CancelledError:
            statement.row.add_done_callback(_retrieved)  # the statement still runs; its error is nobody's
            raise

    async def _drain(self) -> None:
        """One lane: run what is waiting, batch after batch, until nothing is."""
        try:
            while self._waiting:
                batch = [self._waiting.popleft() for _ in range(min(self._most, len(self._waiting)))]
                await self._run(batch)
        finally:
            self._busy -= 1

    async def _run(self, batch: list[_Statement]) -> None:
        try:
            async with self._pool.connection() as conn:
                wire = self._wires.get(conn)
                if wire is None:
                    wire = self._wires[conn] = StatementPipeline(conn)
                if len(batch) > 1:
                    self.batches += 1
                    if self._telemetry is not None:  # email_db_batch_commit_total{statements=…}: how much is shared
                        self._telemetry.emit("email.db.batch_commit", labels={"statements": _size_class(len(batch))},
                                             level="debug")
                outcomes = await wire.run([(s.sql, s.params) for s in batch])
                if len(batch) > 1 and any(o.sent and (o.error is not None or o.aborted) for o in outcomes):
                    # rolled back as a whole: each again on its own (one that failed before it was
                    # sent keeps its error)
                    for statement, outcome in zip(batch, outcomes, strict=True):
                        if outcome.sent:
                            [outcome] = await wire.run([(statement.sql, statement.params)])
                        _settle(statement, outcome)
                    return
                for statement, outcome in zip(batch, outcomes, strict=True):  # committed: never run again
                    _settle(statement, outcome)
        except BaseException as exc:  # no connection (503 to each caller), one lost mid-batch, shutdown
            for statement in batch:
                if not statement.row.done():
                    statement.row.set_exception(exc if isinstance(exc, Exception) else psycopg.OperationalError(
                        "the service is shutting down"))
            if not isinstance(exc, Exception):
                raise


def _settle(statement: _Statement, outcome: Outcome) -> None:
    if outcome.error is not None:
        statement.row.set_exception(outcome.error)
    else:
        statement.row.set_result(outcome.row)


def _size_class(n: int) -> str:
    return "2-4" if n <= 4 else "5-16" if n <= 16 else f"17-{MOST}"


def _retrieved(row: asyncio.Future[DictRow | None]) -> None:
    if not row.cancelled():
        row.exception()
