"""``tenantmail suppression``: list, add and remove a tenant's suppressed recipients."""

from __future__ import annotations

import typer

from tenantmail.domain.bounds import MAX_OFFSET
from tenantmail.domain.suppression import SuppressionEntry, SuppressionReason
from tenantmail.entrypoints.api.schemas_suppression import SuppressionOut
from tenantmail.entrypoints.cli.output import JsonOption, cli_app, tenant_option, console, print_json, print_table, run
from tenantmail.services import manage_suppression

app = typer.Typer(help="Suppressed recipients: sends to them are refused (403).", no_args_is_help=True)
TenantOption = tenant_option("The tenant whose suppression list to use.")


def _print_entry(entry: SuppressionEntry, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(SuppressionOut.of(entry).model_dump(mode="json"))
    else:
        console.print(f"{entry.recipient} {verb} ({entry.reason.value}, origin {entry.origin.value})",
                      markup=False, highlight=False)


@app.command("list")
def list_entries(
    tenant: str = TenantOption,
    recipient: str = typer.Option(None, help="One address."),
    reason: list[SuppressionReason] = typer.Option(None, "--reason", help="Repeat for several reasons."),
    limit: int = typer.Option(50, min=1, max=500),
    offset: int = typer.Option(0, min=0, max=MAX_OFFSET),
    as_json: bool = JsonOption,
) -> None:
    """List live entries, newest first."""

    async def body() -> tuple[list[SuppressionEntry], int]:
        async with cli_app() as container:
            return await manage_suppression.list_suppressions(
                container.ctx, tenant, recipient=recipient, reasons=reason or None, limit=limit, offset=offset,
            )

    entries, total = run(body)
    if as_json:
        print_json({"items": [SuppressionOut.of(e).model_dump(mode="json") for e in entries],
                    "total": total, "limit": limit, "offset": offset})
        return
    print_table(f"suppression list of {tenant} ({len(entries)} of {total})",
                ("recipient", "reason", "origin", "createdAt"),
                ((e.recipient, e.reason.value, e.origin.value, e.created_at) for e in entries))


@app.command("add")
def add(
    recipient: str = typer.Argument(..., help="The address to suppress."),
    tenant: str = TenantOption,
    reason: SuppressionReason = typer.Option(SuppressionReason.MANUAL, help="Why."),
    as_json: bool = JsonOption,
) -> None:
    """Suppress a recipient (as an operator)."""

    async def body() -> tuple[SuppressionEntry, bool]:
        async with cli_app() as container:
            return await manage_suppression.add_suppression(container.ctx, tenant, recipient, reason)

    entry, created = run(body)
    _print_entry(entry, "suppressed" if created else "was already suppressed", as_json)


@app.command("remove")
def remove(
    recipient: str = typer.Argument(..., help="The address to lift."),
    tenant: str = TenantOption,
    as_json: bool = JsonOption,
) -> None:
    """Lift a suppression here and on the tenant's Postmark outbound stream (not spam complaints)."""

    async def body() -> SuppressionEntry:
        async with cli_app() as container:
            return await manage_suppression.remove_suppression(container.ctx, tenant, recipient)

    _print_entry(run(body), "removed", as_json)
