"""How every CLI command prints: a rich table for people, ``--json`` for programs, one-line errors."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, AsyncIterator, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from tenantmail.adapters.db.migrate import DatabaseNotMigrated
from tenantmail.adapters.telemetry import configure_logging
from tenantmail.bootstrap import App, bootstrap
from tenantmail.domain.errors import DomainError
from tenantmail.settings import Settings, SettingsError, load_settings

T = TypeVar("T")
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, then exit non-zero."""
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_default, indent=2) + "\n")


def cell(value: Any) -> str:
    """How one value reads in a table: times to the second in UTC, nothing for None."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return str(value)


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(cell(v) for v in row))
    console.print(table)


def print_record(title: str, fields: Mapping[str, Any]) -> None:
    print_table(title, ("field", "value"), ((k, v) for k, v in fields.items()))


def settings_or_exit(**overrides: object) -> Settings:
    """Settings, or one line per bad variable on stderr and exit code 2."""
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        for line in exc.lines:
            err_console.print(f"[red]error:[/red] {line}", highlight=False)
        raise typer.Exit(2) from None


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run an async command body, turning known errors into one-line messages."""
    try:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]
    except SettingsError as exc:
        for line in exc.lines:
            err_console.print(f"[red]error:[/red] {line}", highlight=False)
        raise typer.Exit(2) from None
    except DomainError as exc:
        fail(f"{exc.kind}: {exc.message}")
    except DatabaseNotMigrated as exc:
        fail(str(exc), code=2)


@asynccontextmanager
async def cli_app() -> AsyncIterator[App]:
    """The App for an operator command: the configured database and Postmark, no embedded worker.

    In the embedded default the sandbox belongs to the running ``tenantmail serve``; commands reach
    it on its fixed ports rather than starting their own. Log lines go to stderr, so that stdout
    carries only the command's output (``--json`` stays parseable).
    """
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json, stream=sys.stderr)
    app = await bootstrap(settings, with_sandbox=False)
    try:
        yield app
    finally:
        await app.aclose()
