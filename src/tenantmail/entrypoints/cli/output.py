"""How every CLI command prints: a rich table for people, ``--json`` for programs, one-line errors.

Errors are one line on stderr (``error: …``), or with ``--json`` one JSON object
``{"error", "message"}`` on stdout — what a program reading the output parses either way — and
always a non-zero exit: 1 the request was refused, 2 the command could not run (settings,
database). Text that came from outside (ids, names, messages) is printed literally, never read as
rich markup, and table columns holding ids are never wrapped.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, AsyncIterator, NoReturn, TypeVar

import psycopg
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError

from tenantmail.adapters.db.migrate import DatabaseNotMigrated
from tenantmail.adapters.telemetry import configure_logging
from tenantmail.bootstrap import Container, bootstrap
from tenantmail.domain.errors import DomainError
from tenantmail.domain.tenant import valid_tenant_id
from tenantmail.entrypoints import process
from tenantmail.settings import Settings, SettingsError, load_settings

T = TypeVar("T")
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

#: Exit codes shared by every command.
EXIT_REFUSED = 1
EXIT_CANNOT_RUN = 2

_json_errors = False


def _json_mode(value: bool) -> bool:
    """``--json`` anywhere on the command line makes errors JSON too (eager: known before any
    other option is checked, so a bad option's error is JSON as well)."""
    global _json_errors
    _json_errors = _json_errors or bool(value)
    return value


def reset_json_mode() -> None:
    """Called once per invocation (the root callback), before any option is read."""
    global _json_errors
    _json_errors = False


def json_mode() -> bool:
    return _json_errors


JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON (errors too: {\"error\", \"message\"}).",
                          callback=_json_mode, is_eager=True)


def _tenant(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return valid_tenant_id(value)
    except DomainError as exc:
        raise typer.BadParameter(exc.message.replace("X-Tenant-Id", "a tenant id")) from None


def tenant_option(help_text: str) -> Any:
    """``--tenant``, checked by the API's own rule for ``X-Tenant-Id`` (:mod:`domain.tenant`)."""
    return typer.Option(..., "--tenant", help=help_text, callback=_tenant)


def error(kind: str, message: str, code: int = EXIT_REFUSED, *, name_kind: bool = False) -> NoReturn:
    """Report one error (a line on stderr, or JSON on stdout under ``--json``) and exit ``code``.
    ``name_kind``: the line starts with the kind too (``error: NotFound: …``), as the API names it."""
    if _json_errors:
        sys.stdout.write(json.dumps({"error": kind, "message": message}) + "\n")
        sys.stdout.flush()
    else:
        text = f"{kind}: {message}" if name_kind else message
        err_console.print(f"[red]error:[/red] {escape(text)}", highlight=False)
    raise typer.Exit(code)


def settings_errors(lines: Sequence[str]) -> NoReturn:
    """Bad settings: one line each (one JSON object naming them all under ``--json``), exit 2."""
    if _json_errors:
        error("InvalidSettings", "; ".join(lines), EXIT_CANNOT_RUN)
    for line in lines:
        err_console.print(f"[red]error:[/red] {escape(line)}", highlight=False)
    raise typer.Exit(EXIT_CANNOT_RUN)


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


#: Columns whose values are identifiers: copied and pasted whole, so never wrapped.
ID_COLUMNS = frozenset({"eId", "rId", "job", "configuration", "messageId", "id"})
_FOLDED_MIN = 5  #: the narrowest a wrapped column is squeezed to before the table outgrows the screen


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A table; cells are literal text. Id columns keep their width: the other columns fold
    first, and when even that is too narrow the table is printed wider than the terminal
    (which soft-wraps whole lines) rather than break an id."""
    table = Table(title=escape(title), show_lines=False, header_style="bold")
    texts = [[Text(cell(v)) for v in row] for row in rows]
    widths = [max([len(column), *(len(row[i]) for row in texts)]) for i, column in enumerate(columns)]
    for column, width in zip(columns, widths):
        if column in ID_COLUMNS:
            table.add_column(column, no_wrap=True, min_width=width, overflow="ignore")
        else:
            table.add_column(column, overflow="fold")
    for row in texts:
        table.add_row(*row)
    needed = sum(w if c in ID_COLUMNS else min(w, _FOLDED_MIN) for c, w in zip(columns, widths))
    needed += 3 * len(columns) + 1  # borders and padding
    if needed > console.width:  # wider than the screen: lines run on (soft wrap), ids stay whole
        table.width = needed
    console.print(table)


def print_record(title: str, fields: Mapping[str, Any]) -> None:
    print_table(title, ("field", "value"), ((k, v) for k, v in fields.items()))


def settings_or_exit(**overrides: object) -> Settings:
    """Settings, or one line per bad variable on stderr and exit code 2."""
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        settings_errors(exc.lines)


def database_unreachable(exc: BaseException) -> NoReturn:
    """The database did not answer (or refused us): one line naming it, a hint, exit 2."""
    try:
        settings = load_settings()
        where = make_url(settings.effective_database_url).render_as_string(hide_password=True)
    except (SettingsError, ArgumentError):
        where = "the configured database"
    cause = getattr(exc, "orig", None) or exc
    detail = next((line.strip() for line in str(cause).splitlines() if line.strip()), type(cause).__name__)
    error("DatabaseUnavailable", f"cannot use the database {where}: {detail} (hint: check "
          "TENANTMAIL_DATABASE_URL, and that the database is running and reachable from here)",
          EXIT_CANNOT_RUN)


#: Exceptions meaning "the database is not there for us" rather than a bug.
DATABASE_DOWN = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run an async command body, turning known errors into one-line messages.

    A SIGINT/SIGTERM that cancelled a start-up ends the process with 128 + the signal's number."""
    try:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]
    except SettingsError as exc:
        settings_errors(exc.lines)
    except DomainError as exc:
        error(exc.kind, exc.message, name_kind=True)
    except DatabaseNotMigrated as exc:
        error("DatabaseNotMigrated", str(exc), EXIT_CANNOT_RUN)
    except DATABASE_DOWN as exc:
        database_unreachable(exc)
    except asyncio.CancelledError:  # a stop signal during start-up (entrypoints/process.py)
        raise typer.Exit(128 + (process.last_signal or signal.SIGTERM)) from None
    except KeyboardInterrupt:
        raise typer.Exit(128 + signal.SIGINT) from None


@asynccontextmanager
async def cli_app() -> AsyncIterator[Container]:
    """The Container for an operator command: the configured database and Postmark, no embedded worker.

    In the embedded default the sandbox belongs to the running ``tenantmail serve``; commands reach
    it through ``var/endpoints.json`` (its ports, whatever they are) rather than starting their
    own, and the mail zone is looked up only by a command that touches DNS. Log lines go to
    stderr, warnings and errors only, so that stdout carries only the command's output.
    """
    settings = load_settings()
    level = "WARNING" if settings.log_level == "INFO" else settings.log_level  # DEBUG stays DEBUG
    configure_logging(level, settings.log_json, stream=sys.stderr)
    app = await bootstrap(settings, with_sandbox=False, resolve_zone=False)
    try:
        yield app
    finally:
        await app.aclose()
