"""A batch of single-row statements in one round trip, on libpq directly (for :mod:`group_commit`).

psycopg's pipeline did the same through a cursor per statement; its cursor, adapter map and result
bookkeeping cost about 110 µs of CPU per statement (docs/performance.md), most of a webhook's
client-side cost. Here one :class:`~psycopg.adapt.Transformer` per connection dumps the parameters
and loads the rows, and each statement goes to libpq as ``Bind``/``Execute`` of a statement
prepared once per connection — what psycopg itself does with ``prepare_threshold=0``, without the
layers around it.

The contract is psycopg's: ``%(name)s`` parameters (one name, one ``$n``), rows as dicts, errors
as psycopg's exception classes (``LockNotAvailable``, ``UniqueViolation``…) built from the
server's answer, and a lost connection raised as ``OperationalError``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import psycopg
from psycopg import errors, pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.rows import DictRow

from tenantmail.adapters.db.direct_pool import ENCODING, Connection

#: Statements prepared per connection (distinct SQL text × parameter types); past it, a statement
#: is parsed on each run instead (nothing here comes near: a few texts, a few None patterns).
MOST_PREPARED = 64

_PARAMETER = re.compile(r"%\((\w+)\)s|%%")
_ExecStatus = pq.ExecStatus
_Key = tuple[bytes, tuple[int, ...]]  # statement text, parameter types


@dataclass(frozen=True, slots=True)
class _Text:
    """A statement with ``$n`` placeholders and the parameter names they take, in order."""

    sql: bytes
    names: tuple[str, ...]
    formats: tuple[PyFormat, ...]  #: psycopg picks each parameter's format


@cache
def _text(sql: str) -> _Text:
    names: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    text = _PARAMETER.sub(placeholder, sql).encode()
    return _Text(text, tuple(names), (PyFormat.AUTO,) * len(names))


@dataclass(slots=True)
class Outcome:
    """One statement's answer: its first row (None when it returns none), or its own error."""

    row: DictRow | None = None
    error: Exception | None = None
    aborted: bool = False  #: not run: an earlier statement of its batch failed
    sent: bool = True  #: False when it failed before reaching the server (a parameter psycopg cannot dump)


class StatementPipeline:
    """Runs batches on one connection: each batch one pipeline with one Sync, so PostgreSQL runs
    its statements in order in one implicit transaction and commits them together, or none."""

    def __init__(self, conn: Connection) -> None:
        # Holds the connection's libpq handle and adapters, not the connection: the caller may key
        # pipelines by connection in a weak mapping. The pool's connections speak UTF-8.
        self._pg = conn.pgconn
        self._tx = Transformer(conn.adapters)
        self._prepared: dict[_Key, bytes] = {}
        self._columns: dict[bytes, tuple[str, ...]] = {}

    async def run(self, statements: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Outcome]:
        """Each statement's outcome, in order. The batch was committed if and only if no outcome
        has an error from the server (a parameter that cannot be dumped fails its statement alone,
        before anything is sent). Raises ``OperationalError`` when the connection is lost."""
        pg = self._pg
        outcomes = [Outcome() for _ in statements]
        sent: list[tuple[int, bytes | None, _Key | None]] = []  # (index, statement name, key if prepared here)
        pending: dict[_Key, bytes] = {}
        pg.enter_pipeline_mode()
        for index, (sql, params) in enumerate(statements):
            text = _text(sql)
            try:
                values = self._tx.dump_sequence([params[n] for n in text.names], text.formats)
            except KeyError as exc:
                outcomes[index] = Outcome(error=psycopg.ProgrammingError(f"query parameter missing: {exc.args[0]}"),
                                          sent=False)
                continue
            except psycopg.Error as exc:
                outcomes[index] = Outcome(error=exc, sent=False)
                continue
            types, formats = self._tx.types, self._tx.formats
            key = (text.sql, types)
            name, new = self._prepared.get(key) or pending.get(key), None
            if name is None and len(self._prepared) + len(pending) < MOST_PREPARED:
                name = pending[key] = f"tm_{len(self._prepared) + len(pending)}".encode()
                new = key
                pg.send_prepare(name, text.sql, param_types=types)
            if name is None:
                pg.send_query_params(text.sql, values, param_types=types, param_formats=formats)
            else:
                pg.send_query_prepared(name, values, param_formats=formats)
            sent.append((index, name, new))
            pg.flush()  # the server starts on it while the next one is built
        pg.pipeline_sync()
        await self._flush()
        for index, name, new in sent:
            refused = None
            if new is not None:
                prepared = await self._result()
                if prepared.status == _ExecStatus.COMMAND_OK:
                    self._prepared[new] = name
                else:  # the text itself is wrong: that is this statement's error
                    refused = self._outcome(prepared, None)
            answered = self._outcome(await self._result(), name)
            outcomes[index] = answered if refused is None else refused
        sync = await self._next()
        if sync is None or sync.status != _ExecStatus.PIPELINE_SYNC:  # pragma: no cover - libpq's protocol
            raise psycopg.InternalError("the pipeline did not end where expected")
        pg.exit_pipeline_mode()
        return outcomes

    def _outcome(self, result: pq.abc.PGresult, name: bytes | None) -> Outcome:
        status = result.status
        if status == _ExecStatus.TUPLES_OK:
            if not result.ntuples:
                return Outcome()
            columns = self._columns.get(name) if name is not None else None
            if columns is None:
                columns = tuple(result.fname(i).decode() for i in range(result.nfields))  # type: ignore[union-attr]
                if name is not None:
                    self._columns[name] = columns
            self._tx.set_pgresult(result)
            return Outcome(row=self._tx.load_row(0, lambda values: dict(zip(columns, values, strict=True))))
        if status == _ExecStatus.COMMAND_OK:
            return Outcome()
        if status == _ExecStatus.PIPELINE_ABORTED:
            return Outcome(aborted=True)
        return Outcome(error=errors.error_from_result(result, encoding=ENCODING))

    async def _flush(self) -> None:
        pg = self._pg
        while pg.flush():
            if await self._ready(write=True):
                pg.consume_input()

    async def _result(self) -> pq.abc.PGresult:
        """The next statement's result, and the end of it (libpq's None)."""
        result = await self._next()
        if result is None or await self._next() is not None:  # pragma: no cover - one result per statement
            raise psycopg.InternalError("a statement did not answer exactly one result")
        return result

    async def _next(self) -> pq.abc.PGresult | None:
        pg = self._pg
        while pg.is_busy():
            await self._ready(write=False)
            pg.consume_input()
        return pg.get_result()

    async def _ready(self, *, write: bool) -> bool:
        """Waits for the socket to be readable (or, with ``write``, writable); True if readable."""
        loop = asyncio.get_running_loop()
        fd = self._pg.socket
        ready: asyncio.Future[bool] = loop.create_future()
        loop.add_reader(fd, _resolve, ready, True)
        if write:
            loop.add_writer(fd, _resolve, ready, False)
        try:
            return await ready
        finally:
            loop.remove_reader(fd)
            if write:
                loop.remove_writer(fd)


def _resolve(ready: asyncio.Future[bool], readable: bool) -> None:
    if not ready.done():
        ready.set_result(readable)
