"""``tenantmail drift``: run the drift assertions now, show the last kept report, or repair.

``drift`` and ``drift last`` never change anything. Exit codes: 0 clean, 1 drift found, 2 the scan
could not run (or could not observe every source).

``drift repair`` scans, prints the plan of safe repairs and applies it only with ``--yes``
(SPEC §18). Exit codes: 0 nothing is left to repair, 1 repairs are pending (not applied, waiting
for a confirmation, manual) or failed, 2 it could not run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

import getpass

from tenantmail.domain.drift import DriftReport, RunStatus
from tenantmail.entrypoints.cli.output import JsonOption, cli_app, console, err_console, error, print_json, print_table, run
from tenantmail.services import detect_drift
from tenantmail.services.repair_drift import RepairRun, repair_drift

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


@app.command()
def repair(
    yes: bool = typer.Option(False, "--yes", help="Apply the planned repairs (without it: print the plan only)."),
    author: str = typer.Option(None, "--author", help="Recorded in each repaired configuration's history "
                               "(default: cli:<login>)."),
    delete_orphan_server: list[int] = typer.Option(
        None, "--delete-orphan-server", help="Confirm the deletion of this orphan server id; repeat for several."),
    delete_orphan_domain: list[int] = typer.Option(
        None, "--delete-orphan-domain", help="Confirm the deletion of this orphan Postmark Domain id."),
    as_json: bool = JsonOption,
) -> None:
    """Scan, print the plan of safe repairs, and apply it with --yes.

    DNS records are re-UPSERTed from Postmark's current values; a configuration whose Postmark server or domain is gone moves to MISSING; an orphan server or domain is deleted only when named with --delete-orphan-server / --delete-orphan-domain; a missing registry key is never repaired (the plan says what to restore). Each repair of a configuration is a history version.
    """  # noqa: E501 (one paragraph: the help renders line breaks as written)
    who = author or f"cli:{getpass.getuser()}"

    async def body() -> RepairRun:
        async with cli_app() as container:
            return await repair_drift(
                container.ctx, apply=yes, author=who,
                delete_orphan_server_ids=delete_orphan_server or (),
                delete_orphan_domain_ids=delete_orphan_domain or (),
            )

    try:
        result = run(body)
    except typer.Exit:
        raise
    except Exception as exc:
        fail(f"drift repair could not run: {type(exc).__name__}: {exc}", code=2)
    if as_json:
        print_json(result.to_json())
    else:
        _print_repairs(result)
    if result.report.error:
        raise typer.Exit(2)
    raise typer.Exit(0 if result.settled else 1)


def _print_repairs(result: RepairRun) -> None:
    print_table(
        "Drift repairs" + ("" if result.applied else " (plan only: run with --yes to apply)"),
        ("finding", "configuration", "subject", "action", "status", "detail"),
        ((r.finding.tag.value, r.finding.configuration_e_id, r.finding.subject, r.action.value,
          r.status.value, r.detail) for r in result.repairs),
    )
    for kind, ids in (("server", result.unmatched_server_ids), ("domain", result.unmatched_domain_ids)):
        if ids:
            err_console.print(f"[yellow]warning:[/yellow] not an orphan {kind} of this partition, "
                              f"nothing deleted: {', '.join(map(str, ids))}", highlight=False)
    left = len(result.outstanding)
    if not result.repairs:
        console.print("[green]nothing to repair[/green]")
    elif left:
        console.print(f"[yellow]{left} repair(s) outstanding[/yellow] of {len(result.repairs)}")
    else:
        console.print(f"[green]repaired {len(result.repairs)}[/green]")
    if result.report.error:
        err_console.print(f"[red]the scan could not check everything:[/red] {result.report.error}", highlight=False)


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
