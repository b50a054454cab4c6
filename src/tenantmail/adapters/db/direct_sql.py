"""SQL text for the direct connections (:mod:`direct_pool`), built from the table metadata.

The hot paths' statements are written by hand (SQLAlchemy's execution layer is what they avoid),
but every column list and type comes from :mod:`tables`, so they name exactly the columns the
schema has, and a schema change reaches them. Parameters are psycopg's ``%(name)s``, each cast to
its column's type so it also works where PostgreSQL cannot infer one (``INSERT … SELECT``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import JSON, Table
from sqlalchemy.dialects import postgresql

_DIALECT = postgresql.dialect()


def selected(table: Table, alias: str, prefix: str = "") -> str:
    """``alias.col AS prefix+col, …`` for every column."""
    return ", ".join(f"{alias}.{c.name} AS {prefix}{c.name}" for c in table.columns)


def names(table: Table) -> str:
    return ", ".join(c.name for c in table.columns)


def typed_values(table: Table, prefix: str = "", *, computed: Mapping[str, str] | None = None) -> str:
    """``%(prefix+col)s::TYPE, …`` for every column, in table order; ``computed`` gives some
    columns an SQL expression instead of a parameter."""
    computed = computed or {}
    return ", ".join(computed.get(c.name) or f"%({prefix}{c.name})s::{_type(table, c.name)}" for c in table.columns)


def typed_assignments(table: Table, columns: Iterable[str]) -> str:
    """``col = %(col)s::TYPE, …`` for an UPDATE of ``columns``."""
    return ", ".join(f"{name} = %({name})s::{_type(table, name)}" for name in columns)


def bind(table: Table, row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``row`` as parameters for the helpers above: JSON values wrapped for psycopg, columns the
    row leaves out (a new job's lease) NULL."""
    values = {prefix + name: row.get(name) for name in _column_names(table)}
    for name in _json_names(table):
        if values[prefix + name] is not None:
            values[prefix + name] = Json(values[prefix + name])
    return values


def unprefixed(table: Table, row: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The ``prefix``-ed columns of a joined row, under their own names."""
    return {name: row[prefix + name] for name in _column_names(table)}


def _type(table: Table, name: str) -> str:
    return str(table.c[name].type.compile(dialect=_DIALECT))


@cache
def _column_names(table: Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.columns)


@cache
def _json_names(table: Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.columns if isinstance(c.type, JSON))
