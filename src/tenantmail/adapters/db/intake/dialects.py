"""What differs between PostgreSQL and SQLite in the intake's SQL, and nothing else.

The statements of :mod:`sends` and :mod:`webhook_events` are written once, as fragments that ask
their :class:`Dialect` for the few pieces the two databases spell differently: how a parameter is
written (``%(name)s`` with its type for psycopg, ``:name`` for sqlite3), how a JSON object is read
by key and how an entry is added to one only when absent. Values cross with SQLAlchemy's own type
processors for the dialect (:class:`RowCodec`), so a datetime or a JSON column is stored exactly as
the repositories store it and read back as they read it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect as SqlalchemyDialect

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class Dialect:
    """One database's spelling of the intake's SQL."""

    name: str  #: "postgresql" or "sqlite", as SQLAlchemy names it
    sqlalchemy: SqlalchemyDialect

    @property
    def is_postgresql(self) -> bool:
        return self.name == "postgresql"

    def param(self, name: str) -> str:
        """A parameter where its type is known from its place (a comparison, a SET)."""
        return f"%({name})s" if self.is_postgresql else f":{name}"

    def typed_param(self, name: str, table: Table, column: str) -> str:
        """A parameter whose type PostgreSQL cannot infer (``INSERT … SELECT``): cast to the column's."""
        if not self.is_postgresql:
            return f":{name}"
        return f"%({name})s::{table.c[column].type.compile(dialect=self.sqlalchemy)}"

    def cast(self, name: str, sql_type: str) -> str:
        """A parameter of the given SQL type (PostgreSQL cannot always infer it; SQLite needs no cast)."""
        return f"%({name})s::{sql_type}" if self.is_postgresql else f":{name}"

    def least(self, *expressions: str) -> str:
        return f"{'LEAST' if self.is_postgresql else 'min'}({', '.join(expressions)})"

    def greatest(self, *expressions: str) -> str:
        return f"{'GREATEST' if self.is_postgresql else 'max'}({', '.join(expressions)})"

    def whole(self, expression: str) -> str:
        """The whole part of a non-negative number, as an integer."""
        return f"floor({expression})::bigint" if self.is_postgresql else f"CAST({expression} AS INTEGER)"

    def flag(self, name: str) -> str:
        """A boolean parameter used as a condition."""
        return f"%({name})s::boolean" if self.is_postgresql else f":{name}"

    def json_value(self, document_param: str, key: str) -> str:
        """The text under ``key`` (an SQL expression) in the JSON object parameter ``document_param``."""
        if self.is_postgresql:
            return f"(%({document_param})s::jsonb ->> {key})"
        return f"json_extract(:{document_param}, '$.' || {key})"

    def json_set_default(self, document: str, key: str, value_param: str) -> str:
        """``document`` (a JSON column) with ``key`` → the parameter's text added unless the key is
        there already: an entry, once written, is never replaced (``dict.setdefault``)."""
        if self.is_postgresql:
            return f"(jsonb_build_object({key}, %({value_param})s::text) || {document}::jsonb)::json"
        return f"json_patch(json_object({key}, :{value_param}), {document})"

    def columns(self, table: Table) -> str:
        return ", ".join(c.name for c in table.columns)

    def values(self, table: Table, prefix: str = "", *, computed: Mapping[str, str] | None = None) -> str:
        """A parameter for every column of ``table`` in table order (``prefix``-ed names);
        ``computed`` gives some columns an SQL expression instead."""
        computed = computed or {}
        return ", ".join(computed.get(c.name) or self.typed_param(prefix + c.name, table, c.name) for c in table.columns)

    def selected(self, table: Table, alias: str, prefix: str = "") -> str:
        """``alias.col AS prefix+col, …`` for every column."""
        return ", ".join(f"{alias}.{c.name} AS {prefix}{c.name}" for c in table.columns)

    def codec(self, table: Table, prefix: str = "") -> RowCodec:
        return RowCodec(table, self, prefix)


POSTGRESQL = Dialect("postgresql", postgresql.psycopg.dialect())
SQLITE = Dialect("sqlite", sqlite.pysqlite.dialect())
DIALECTS = {d.name: d for d in (POSTGRESQL, SQLITE)}


class RowCodec:
    """A table's rows to the driver's parameters and back, as SQLAlchemy converts them for the
    dialect (``UTCDateTime``, ``JSON``…), with the parameter and column names ``prefix``-ed."""

    def __init__(self, table: Table, dialect: Dialect, prefix: str = "") -> None:
        self._names = tuple(c.name for c in table.columns)
        self._prefix = prefix
        d = dialect.sqlalchemy
        binds = {c.name: c.type.dialect_impl(d).bind_processor(d) for c in table.columns}
        #: (column, parameter, conversion or None) per column, in table order
        self._bound = tuple((name, prefix + name, binds[name]) for name in self._names)
        self._results = {c.name: p for c in table.columns if (p := c.type.dialect_impl(d).result_processor(d, None)) is not None}

    def params(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """``row`` as parameters; columns it leaves out (a new job's lease) are NULL."""
        get = row.get
        values: dict[str, Any] = {}
        for name, param, process in self._bound:
            value = get(name)
            values[param] = process(value) if process is not None and value is not None else value
        return values

    def nulls(self) -> dict[str, Any]:
        """Every parameter NULL: for a statement whose row is not written this time."""
        return {self._prefix + name: None for name in self._names}

    def row(self, found: Mapping[str, Any]) -> dict[str, Any]:
        """The ``prefix``-ed columns of a result row, under their own names, as Python values."""
        prefix, results = self._prefix, self._results
        row: dict[str, Any] = {}
        for name in self._names:
            value = found[prefix + name]
            process = results.get(name)
            row[name] = process(value) if process is not None and value is not None else value
        return row

    @cached_property
    def names(self) -> tuple[str, ...]:
        return self._names
