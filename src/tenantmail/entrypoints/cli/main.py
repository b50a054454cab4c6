"""``tenantmail``: run the service, run workers, migrate, and drive the lifecycle from a shell."""

from __future__ import annotations

import asyncio
import json
import sys

import structlog
import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError  # typer's own click (pinned)

from tenantmail import __version__
from tenantmail.adapters.db.engine import create_engine
from tenantmail.adapters.db.migrate import current_revision, head_revision, upgrade
from tenantmail.adapters.telemetry import configure_logging
from tenantmail.bootstrap import bootstrap
from tenantmail.entrypoints.cli import config, drift, events, jobs, keys, limits, notify, suppression
from tenantmail.entrypoints.cli.output import (
    JsonOption,
    console,
    error,
    json_mode,
    print_json,
    reset_json_mode,
    run,
    settings_or_exit,
)
from tenantmail.entrypoints.process import Stopper, check_free, listen, quiet_server
from tenantmail.sandbox.cli import sandbox_app
from tenantmail.settings import Settings

log = structlog.get_logger("tenantmail.cli")

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
app.add_typer(notify.app, name="notify")
app.add_typer(limits.app, name="limits")
app.add_typer(drift.app, name="drift")
app.add_typer(keys.app, name="keys")
app.add_typer(sandbox_app, name="sandbox")


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """tenantmail command line."""
    reset_json_mode()


def _log_json(settings: Settings, as_json: bool) -> bool | None:
    return True if as_json else settings.log_json


@app.command()
def serve(
    host: str = typer.Option(None, help="Bind address (default TENANTMAIL_HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default TENANTMAIL_PORT, 8000)."),
    as_json: bool = JsonOption,
) -> None:
    """Run the HTTP API (and, in the embedded default, the worker and the sandbox in-process).

    Stops on SIGINT/SIGTERM: in-flight requests and the embedded worker's pass finish first; a
    second signal stops at once. ``--json``: JSON log lines and JSON errors.
    """
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = settings_or_exit(**overrides)
    configure_logging(settings.log_level, _log_json(settings, as_json))
    run(lambda: _serve(settings, port_setting="--port" if port is not None else "TENANTMAIL_PORT"))


async def _serve(settings: Settings, *, port_setting: str) -> None:
    from tenantmail.entrypoints.api.app import create_app, serving

    sock = listen(settings.host, settings.port, port_setting)  # a taken port fails before anything slow
    try:
        if settings.uses_sandbox:  # serve starts the sandbox on these
            check_free(settings.host, settings.sandbox_postmark_port, "TENANTMAIL_SANDBOX_POSTMARK_PORT (0 picks one)")
            check_free(settings.host, settings.sandbox_route53_port, "TENANTMAIL_SANDBOX_ROUTE53_PORT (0 picks one)")
        with Stopper().installed() as stopper:
            container = await bootstrap(settings)  # migrates the embedded default, else requires it
            try:
                server = quiet_server(create_app(container=container))
                async with serving(container):
                    stopper.started(lambda: setattr(server, "should_exit", True))
                    await server.serve(sockets=[sock])
            finally:
                await container.aclose()
    finally:
        sock.close()


@app.command()
def worker(
    as_json: bool = JsonOption,
    only: str = typer.Option(None, "--only", help="Run only these loops (comma-separated names, e.g. "
                             "notifications or dispatch,provisioning); default: every loop."),
) -> None:
    """Run a worker: dispatch sends, provision, poll verification, scan drift, sweep keys.

    Serves /healthz, /readyz and /metrics on TENANTMAIL_WORKER_PORT (default 8001). SIGINT/SIGTERM
    stop it once its in-flight passes are done (a dispatch pass ends within the lease); a second
    signal stops at once. ``--json``: JSON log lines and JSON errors.
    """
    settings = settings_or_exit()
    configure_logging(settings.log_level, _log_json(settings, as_json))
    run(lambda: _work(settings, only.split(",") if only else None))


async def _work(settings: Settings, only: list[str] | None = None) -> None:
    from tenantmail.entrypoints.api.app import create_probe_app
    from tenantmail.entrypoints.worker import default_loops, run_worker

    loops = default_loops()
    if only is not None:
        names = {loop.name for loop in loops}
        unknown = sorted(set(only) - names)
        if unknown:
            error("UsageError", f"--only: unknown loop {', '.join(unknown)} (loops: {', '.join(sorted(names))})", 2)
        loops = [loop for loop in loops if loop.name in only]

    sock = listen(settings.host, settings.worker_port, "TENANTMAIL_WORKER_PORT")
    try:
        with Stopper().installed() as stopper:
            container = await bootstrap(settings, with_sandbox=False)
            try:
                container.watch_registry()
                probe = quiet_server(create_probe_app(container), lifespan="off")
                probing = asyncio.create_task(probe.serve(sockets=[sock]))
                while not probe.started:  # /readyz answers before the first pass
                    if probing.done():
                        probing.result()
                        raise RuntimeError("the worker's probe server stopped during start-up")
                    await asyncio.sleep(0.01)
                host, port = sock.getsockname()[:2]
                log.info("email.worker.probes", url=f"http://{host}:{port}", paths=["/healthz", "/readyz", "/metrics"])
                stop = asyncio.Event()
                stopper.started(stop.set)
                try:
                    await run_worker(container.ctx, stop, loops)
                finally:
                    probe.should_exit = True
                    await probing
            finally:
                await container.aclose()
    finally:
        sock.close()


@app.command()
def migrate(as_json: bool = JsonOption) -> None:
    """Bring the database schema up to date (safe to run again; run it before starting a new version)."""

    async def body() -> dict[str, str | None]:
        engine = create_engine(settings.effective_database_url)
        try:
            before = await current_revision(engine)
            await upgrade(engine)
            return {"from": before, "to": head_revision(), "database": engine.dialect.name}
        finally:
            await engine.dispose()

    settings = settings_or_exit()
    result = run(body)
    if as_json:
        print_json(result)
    else:
        console.print(f"database ({result['database']}) migrated from {result['from'] or 'empty'} to {result['to']}")


def main() -> None:
    """The ``tenantmail`` script: the Typer app, whose usage errors are JSON too under ``--json``."""
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError:  # bare `tenantmail` (or a group): Typer printed its help building this
        sys.exit(0)
    except ClickException as exc:
        if json_mode() or "--json" in sys.argv[1:]:
            sys.stdout.write(json.dumps({"error": "UsageError", "message": exc.format_message()}) + "\n")
        else:
            from typer import rich_utils

            rich_utils.rich_format_error(exc)
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
