"""``tenantmail sandbox``: run the Postmark emulator and local Route 53 until Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import secrets
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from tenantmail.sandbox.config import SandboxConfig

if TYPE_CHECKING:
    from tenantmail.sandbox.runner import RunningSandbox

sandbox_app = typer.Typer(help="Run the offline Postmark emulator and a local Route 53 (needs tenantmail[sandbox]).")

MISSING_EXTRA = "the sandbox needs the extra: pip install 'tenantmail[sandbox]'"
PORT_OPTIONS = {"Postmark": "--postmark-port", "Route 53": "--route53-port"}


def _describe(running: RunningSandbox) -> dict[str, str]:
    return {
        "postmark_base_url": running.base_url,
        "route53_endpoint_url": running.route53_endpoint_url,
        "account_token": running.account_token,
        "zone_name": running.zone_name,
        "zone_id": running.zone_id,
        "state_file": str(running.state_path),
    }


def _fail(kind: str, message: str, as_json: bool) -> NoReturn:
    if as_json:
        typer.echo(json.dumps({"error": kind, "message": message}))
    else:
        typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@sandbox_app.callback(invoke_without_command=True)
def run_sandbox(
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
    postmark_port: Annotated[int, typer.Option(help="Postmark API port (0: any free).")] = 8100,
    route53_port: Annotated[int, typer.Option(help="Route 53 port (0: any free).")] = 8101,
    account_token: Annotated[str | None, typer.Option(help="Default: generated.")] = None,
    state_dir: Annotated[Path, typer.Option(help="Where the emulator keeps its state.")] = Path("var/sandbox"),
    zone: Annotated[str, typer.Option(help="Mail zone to create in Route 53.")] = "dev.ardamails.com",
    config: Annotated[Path | None, typer.Option(help="JSON file with SandboxConfig fields.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the endpoints (or an error) as JSON.")] = False,
) -> None:
    """Run until Ctrl-C or SIGTERM; the zone's records are kept in --state-dir for the next start."""
    try:  # moto comes with the `sandbox` extra; a production install has none
        from tenantmail.sandbox.runner import PortInUse, start_sandbox
    except ImportError:
        _fail("SandboxNotInstalled", MISSING_EXTRA, as_json)
    sandbox_config = SandboxConfig.from_file(config) if config else None
    try:
        running = start_sandbox(
            account_token=account_token or secrets.token_urlsafe(24), host=host,
            postmark_port=postmark_port, route53_port=route53_port, state_dir=state_dir,
            zone_name=zone, config=sandbox_config,
        )
    except PortInUse as exc:
        _fail("PortInUse", f"port {exc.port} on {exc.host} is taken ({exc.reason}): choose another with "
              f"{PORT_OPTIONS[exc.role]} (0 picks a free one)", as_json)
    with running:
        try:  # a stop from here on, even while the endpoints are printed, is a clean stop
            signal.signal(signal.SIGTERM, _stop_on_sigterm)
            info = _describe(running)
            if as_json:
                typer.echo(json.dumps(info))
            else:
                for key, value in info.items():
                    typer.echo(f"{key:22} {value}")
                typer.echo("Running; press Ctrl-C to stop.")
            sys.stdout.flush()
            threading.Event().wait()
        except KeyboardInterrupt:
            typer.echo("Stopping.", err=as_json)
