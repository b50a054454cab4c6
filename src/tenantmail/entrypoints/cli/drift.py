"""``tenantmail drift``: run the drift assertions now, or show the last kept report. Never changes anything.

Exit codes: 0 clean, 1 drift found, 2 the scan could not run (or could not observe every source).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from tenantmail.domain.drift import DriftReport, RunStatus
from tenantmail.entrypoints.cli.output import JsonOption, cli_app, console, err_console, error, print_json, print_table, run
from tenantmail.services import detect_drift

app = typer.Typer(help="Drift between the database and Postmark, the key registry and Route 53 (read-only).")

EXIT_CODES = {RunStatus.CLEAN: 0, RunStatus.DRIFT: 1, RunStatus.ERROR: 2}
CELL_CHARS = 48  #: long DKIM keys are cut in the table; --json keeps them whole


@app.callback(invoke_without_command=True)
def scan(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Run every enabled assertion now and print the report (also kept as the latest report)."""
    if ctx.invoked_subcommand is not None:
        return

    async def body() -> DriftReport:
        async with cli_app() as container:
            with _progress(enabled=not as_json) as progress:
                return await detect_drift.detect_drift(container.ctx, progress=progress)

    _show(_guarded(body), as_json)


@app.command()
def last(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Show the report of the latest run (by a worker or this command)."""
    as_json = as_json or bool(ctx.parent and ctx.parent.params.get("as_json"))  # `drift --json last`

    async def body() -> DriftReport | None:
        async with cli_app() as container:
            return await container.ctx.drift_reports.latest()

    report = _guarded(body)
    if report is None:
        error("NoDriftReport", "no drift report yet: run `tenantmail drift` or start a worker", code=2)
    _show(report, as_json)


def _guarded(body: Callable[[], Awaitable[DriftReport | None]]) -> DriftReport | None:
    """Whatever stops the scan (database, settings, a bug) is exit code 2, never a false 'clean'."""
    try:
        return run(body)
    except typer.Exit:
        raise
    except Exception as exc:  # the one-line message is the operator's answer; 2 says "unknown"
        error("DriftScanFailed", f"drift scan could not run: {type(exc).__name__}: {exc}", code=2)


def _show(report: DriftReport | None, as_json: bool) -> None:
    assert report is not None
    if as_json:
        print_json(_as_json(report))
    else:
        _print_report(report)
    raise typer.Exit(EXIT_CODES[report.status])


def _as_json(report: DriftReport) -> dict[str, object]:
    return {"id": report.id, "status": report.status.value, "startedAt": report.started_at,
            "finishedAt": report.finished_at, **report.summary(),
            "discrepancies": [d.to_json() for d in report.discrepancies]}


def _print_report(report: DriftReport) -> None:
    print_table(
        f"Drift findings ({report.started_at:%Y-%m-%d %H:%M:%S} UTC)",
        ("assertion", "tenant", "configuration", "subject", "expected", "actual"),
        ((d.tag.value, d.tenant_id, d.configuration_e_id, d.subject, _cut(d.expected), _cut(d.actual))
         for d in report.discrepancies),
    )
    print_table("Per assertion", ("assertion", "findings"), report.counts.items())
    colour = {RunStatus.CLEAN: "green", RunStatus.DRIFT: "yellow", RunStatus.ERROR: "red"}[report.status]
    console.print(f"[{colour}]{report.status.value}[/{colour}]: {len(report.discrepancies)} finding(s) in "
                  f"{report.configurations_checked} configuration(s), {report.duration_seconds:.1f} s")
    if report.error:
        err_console.print(f"[red]could not check everything:[/red] {escape(report.error)}", highlight=False)


def _cut(value: str | None) -> str | None:
    if value is None or len(value) <= CELL_CHARS:
        return value
    return value[: CELL_CHARS - 1] + "…"


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr once a partition spans several pages; silent for --json."""
    if not enabled:
        yield None
        return
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, transient=True) as bar:
        task = bar.add_task("checking configurations", total=None, visible=False)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, visible=total > detect_drift.PAGE_SIZE)

        yield advance
