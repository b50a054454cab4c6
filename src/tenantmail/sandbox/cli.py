"""``tenantmail sandbox``: run the Postmark emulator and local Route 53 until Ctrl-C."""

from __future__ import annotations

import json
import secrets
import threading
from pathlib import Path
from typing import Annotated

import typer

from tenantmail.sandbox.config import SandboxConfig
from tenantmail.sandbox.runner import RunningSandbox, start_sandbox

sandbox_app = typer.Typer(help="Run the offline Postmark emulator and a local Route 53.")


def _describe(running: RunningSandbox) -> dict[str, str]:
    return {
        "postmark_base_url": running.base_url,
        "route53_endpoint_url": running.route53_endpoint_url,
        "account_token": running.account_token,
        "zone_name": running.zone_name,
        "zone_id": running.zone_id,
        "state_file": str(running.state_path),
    }


@sandbox_app.callback(invoke_without_command=True)
def run_sandbox(
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
    postmark_port: Annotated[int, typer.Option(help="Postmark API port (0: any free).")] = 8100,
    route53_port: Annotated[int, typer.Option(help="Route 53 port (0: any free).")] = 8101,
    account_token: Annotated[str | None, typer.Option(help="Default: generated.")] = None,
    state_dir: Annotated[Path, typer.Option(help="Where the emulator keeps its state.")] = Path("var/sandbox"),
    zone: Annotated[str, typer.Option(help="Mail zone to create in Route 53.")] = "dev.ardamails.com",
    config: Annotated[Path | None, typer.Option(help="JSON file with SandboxConfig fields.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the endpoints as JSON.")] = False,
) -> None:
    sandbox_config = SandboxConfig.from_file(config) if config else None
    running = start_sandbox(
        account_token=account_token or secrets.token_urlsafe(24), host=host,
        postmark_port=postmark_port, route53_port=route53_port, state_dir=state_dir,
        zone_name=zone, config=sandbox_config,
    )
    with running:
        info = _describe(running)
        if as_json:
            typer.echo(json.dumps(info))
        else:
            for key, value in info.items():
                typer.echo(f"{key:22} {value}")
            typer.echo("Running; press Ctrl-C to stop.")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            typer.echo("Stopping.")
