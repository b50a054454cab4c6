"""``tenantmail``: run the service, run workers, migrate, and drive the lifecycle from a shell."""

from __future__ import annotations

import asyncio
import signal

import typer
import uvicorn

from tenantmail import __version__
from tenantmail.adapters.db.engine import create_engine
from tenantmail.adapters.db.migrate import current_revision, ensure_up_to_date, head_revision, upgrade
from tenantmail.adapters.telemetry import configure_logging
from tenantmail.bootstrap import bootstrap, is_embedded
from tenantmail.entrypoints.api.app import create_app
from tenantmail.entrypoints.cli import config, drift, events, jobs, keys, suppression
from tenantmail.entrypoints.cli.output import JsonOption, console, print_json, run, settings_or_exit
from tenantmail.entrypoints.worker import run_worker
from tenantmail.sandbox.cli import sandbox_app
from tenantmail.settings import Settings, load_settings

app = typer.Typer(
    name="tenantmail",
    help="Per-tenant transactional email on Postmark. With no settings it runs offline: "
    "SQLite under ./var/, the built-in Postmark sandbox and a local Route 53.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"tenantmail {__version__}")
        raise typer.Exit()

# in the order an operator meets them: onboarding, sending, delivery, health, keys, offline tools
app.add_typer(config.app, name="config")
app.add_typer(jobs.app, name="jobs")
app.add_typer(events.app, name="events")
app.add_typer(suppression.app, name="suppression")
app.add_typer(drift.app, name="drift")
app.add_typer(keys.app, name="keys")
app.add_typer(sandbox_app, name="sandbox")


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """tenantmail command line."""


@app.command()
def serve(
    host: str = typer.Option(None, help="Bind address (default TENANTMAIL_HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default TENANTMAIL_PORT, 8000)."),
) -> None:
    """Run the HTTP API (and, in the embedded default, the worker and the sandbox in-process)."""
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = settings_or_exit(**overrides)
    configure_logging(settings.log_level, settings.log_json)
    if not is_embedded(settings):
        run(lambda: _require_migrated(settings))
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)


async def _require_migrated(settings: Settings) -> None:
    engine = create_engine(settings.effective_database_url)
    try:
        await ensure_up_to_date(engine)
    finally:
        await engine.dispose()


@app.command()
def worker() -> None:
    """Run a worker: dispatch sends, provision, poll verification, scan drift. Stops on SIGINT/SIGTERM."""
    async def body() -> None:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_json)
        container = await bootstrap(settings, with_sandbox=False)
        container.watch_registry()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await run_worker(container.ctx, stop)
        finally:
            await container.aclose()

    run(body)


@app.command()
def migrate(as_json: bool = JsonOption) -> None:
    """Bring the database schema up to date (safe to run again)."""

    async def body() -> dict[str, str | None]:
        settings = load_settings()
        engine = create_engine(settings.effective_database_url)
        try:
            before = await current_revision(engine)
            await upgrade(engine)
            return {"from": before, "to": head_revision(), "database": engine.dialect.name}
        finally:
            await engine.dispose()

    result = run(body)
    if as_json:
        print_json(result)
    else:
        console.print(f"database ({result['database']}) migrated from {result['from'] or 'empty'} to {result['to']}")


if __name__ == "__main__":  # pragma: no cover
    app()
