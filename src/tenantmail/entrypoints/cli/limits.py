"""``tenantmail limits``: a tenant's send quotas (SPEC §17 "Quotas"), as ``GET/PUT /tenant-limits``."""

from __future__ import annotations

import getpass

import typer

from tenantmail.domain.quota import TenantLimits
from tenantmail.entrypoints.api.schemas_tenant_limits import limits_body
from tenantmail.entrypoints.cli.output import JsonOption, cli_app, print_json, print_record, run, tenant_option
from tenantmail.services.tenant_limits import LimitsView, read_limits, set_limits

app = typer.Typer(help="Send quotas per tenant: rate, burst, daily quota (429 beyond).", no_args_is_help=True)
TenantOption = tenant_option("The tenant whose quotas to read or set.")


def _print(view: LimitsView, as_json: bool) -> None:
    body = limits_body(view)
    if as_json:
        print_json(body)
        return
    effective = body["effective"]
    print_record(f"send quotas of {view.tenant_id}", {
        name: f"{effective[name]:g}" + ("" if body[name] is not None else " (default)")
        for name in ("sendsPerSecond", "burst", "sendsPerDay")
    } | {"updatedBy": body["updatedBy"] or "—", "updatedAt": body["updatedAt"] or "—"})


@app.command("show")
def show(tenant: str = TenantOption, as_json: bool = JsonOption) -> None:
    """The tenant's quotas: its overrides over the defaults."""

    async def body() -> LimitsView:
        async with cli_app() as container:
            return await read_limits(container.ctx, tenant)

    _print(run(body), as_json)


@app.command("set")
def set_(
    tenant: str = TenantOption,
    per_second: float = typer.Option(None, "--per-second", help="Sustained sends per second (default: the setting)."),
    burst: int = typer.Option(None, "--burst", help="Sends allowed at once."),
    per_day: int = typer.Option(None, "--per-day", help="Sends per UTC day."),
    author: str = typer.Option(None, "--author", help="Recorded (default: cli:<login>)."),
    as_json: bool = JsonOption,
) -> None:
    """Replace the tenant's overrides; a limit left out goes back to the default."""

    async def body() -> LimitsView:
        limits = TenantLimits.parse(sends_per_second=per_second, burst=burst, sends_per_day=per_day)
        async with cli_app() as container:
            return await set_limits(container.ctx, tenant, limits, author=author or f"cli:{getpass.getuser()}")

    _print(run(body), as_json)
