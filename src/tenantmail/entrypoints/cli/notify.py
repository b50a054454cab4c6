"""``tenantmail notify``: a tenant's notification endpoints and their delivery log (SPEC §17).

    tenantmail notify create --tenant acme --url https://app.example.com/hooks/email [--type job.delivered]…
    tenantmail notify list|show|update|delete|rotate-secret|deliveries|retry …

The secret is printed only by ``create`` and ``rotate-secret``, as the API shows it only then.
"""

from __future__ import annotations

from typing import Any

import typer

from tenantmail.domain.notification import DeliveryState, NotificationEndpoint, NotificationType
from tenantmail.entrypoints.api.schemas_notification import (
    NotificationDeliveryOut,
    NotificationEndpointOut,
    NotificationEndpointWithSecret,
)
from tenantmail.entrypoints.cli.output import JsonOption, cli_app, console, print_json, print_record, print_table, run, tenant_option
from tenantmail.services import manage_notifications as notifications
from tenantmail.services.manage_notifications import EndpointChange

app = typer.Typer(help="Notification endpoints: where the tenant's calling service hears what happened.",
                  no_args_is_help=True)
TenantOption = tenant_option("The tenant whose endpoints to use.")
TypesOption = typer.Option(None, "--type", help="An event type to deliver (repeat; none: every type).")


def _show(out: NotificationEndpointOut, as_json: bool, title: str) -> None:
    if as_json:
        print_json(out.model_dump(mode="json"))
    else:
        print_record(title, out.model_dump(mode="json"))


@app.command("create")
def create(
    url: str = typer.Option(..., "--url", help="http(s); https to a public address in a live partition."),
    tenant: str = TenantOption,
    types: list[NotificationType] = TypesOption,
    description: str = typer.Option("", help="What it is for."),
    disabled: bool = typer.Option(False, "--disabled", help="Create it disabled."),
    as_json: bool = JsonOption,
) -> None:
    """Add an endpoint; prints its whsec_ secret (shown this once)."""

    async def body() -> tuple[NotificationEndpoint, str]:
        async with cli_app() as container:
            return await notifications.create_endpoint(container.ctx, tenant, url=url, event_types=types or (),
                                                       description=description, enabled=not disabled)

    endpoint, secret = run(body)
    _show(NotificationEndpointWithSecret.with_secret(endpoint, secret), as_json, f"endpoint {endpoint.e_id}")


@app.command("list")
def list_endpoints(
    tenant: str = TenantOption, limit: int = typer.Option(50, min=1, max=500), offset: int = typer.Option(0, min=0),
    as_json: bool = JsonOption,
) -> None:
    """The tenant's endpoints, oldest first."""

    async def body() -> tuple[list[NotificationEndpoint], int]:
        async with cli_app() as container:
            return await notifications.list_endpoints(container.ctx, tenant, limit=limit, offset=offset)

    found, total = run(body)
    if as_json:
        print_json({"items": [NotificationEndpointOut.of(e).model_dump(mode="json") for e in found],
                    "total": total, "limit": limit, "offset": offset})
        return
    print_table(f"notification endpoints of {tenant} ({len(found)} of {total})",
                ("eId", "url", "eventTypes", "enabled", "disabledReason", "failingSince"),
                ((e.e_id, e.url, ",".join(e.event_types) or "all", e.enabled, e.disabled_reason or "", e.failing_since)
                 for e in found))


@app.command("show")
def show(e_id: str = typer.Argument(..., metavar="EID"), tenant: str = TenantOption, as_json: bool = JsonOption) -> None:
    """One endpoint."""

    async def body() -> NotificationEndpoint:
        async with cli_app() as container:
            return await notifications.get_endpoint(container.ctx, tenant, e_id)

    _show(NotificationEndpointOut.of(run(body)), as_json, f"endpoint {e_id}")


@app.command("update")
def update(
    e_id: str = typer.Argument(..., metavar="EID"),
    tenant: str = TenantOption,
    url: str = typer.Option(None, "--url"),
    types: list[NotificationType] = TypesOption,
    all_types: bool = typer.Option(False, "--all-types", help="Deliver every type (clears --type filters)."),
    description: str = typer.Option(None, help="What it is for."),
    enabled: bool = typer.Option(None, "--enable/--disable", help="Enable (delivers what waited) or disable."),
    as_json: bool = JsonOption,
) -> None:
    """Change an endpoint's URL, event types, description or enabled flag."""
    change = EndpointChange(url=url, event_types=[] if all_types else (types or None), description=description,
                            enabled=enabled)

    async def body() -> NotificationEndpoint:
        async with cli_app() as container:
            return await notifications.update_endpoint(container.ctx, tenant, e_id, change)

    _show(NotificationEndpointOut.of(run(body)), as_json, f"endpoint {e_id}")


@app.command("delete")
def delete(e_id: str = typer.Argument(..., metavar="EID"), tenant: str = TenantOption, as_json: bool = JsonOption) -> None:
    """Delete an endpoint and its undelivered notifications."""

    async def body() -> None:
        async with cli_app() as container:
            await notifications.delete_endpoint(container.ctx, tenant, e_id)

    run(body)
    if as_json:
        print_json({"eId": e_id, "deleted": True})
    else:
        console.print(f"endpoint {e_id} deleted", markup=False, highlight=False)


@app.command("rotate-secret")
def rotate_secret(e_id: str = typer.Argument(..., metavar="EID"), tenant: str = TenantOption,
                  as_json: bool = JsonOption) -> None:
    """A new secret (printed once); the old one keeps signing beside it for 24 h."""

    async def body() -> tuple[NotificationEndpoint, str]:
        async with cli_app() as container:
            return await notifications.rotate_secret(container.ctx, tenant, e_id)

    endpoint, secret = run(body)
    _show(NotificationEndpointWithSecret.with_secret(endpoint, secret), as_json, f"endpoint {e_id}")


def _delivery_row(d: NotificationDeliveryOut) -> tuple[Any, ...]:
    return (d.eId, d.type.value, d.subjectId, d.state, d.attempts, d.lastStatusCode, d.lastLatencyMs, d.nextAttemptAt)


@app.command("deliveries")
def deliveries(
    e_id: str = typer.Argument(..., metavar="EID"),
    tenant: str = TenantOption,
    state: list[DeliveryState] = typer.Option(None, "--state", help="Repeat for several states."),
    limit: int = typer.Option(50, min=1, max=500), offset: int = typer.Option(0, min=0),
    as_json: bool = JsonOption,
) -> None:
    """The endpoint's delivery log, newest first: attempts, last status and latency, next retry."""

    async def body() -> tuple[list[Any], int]:
        async with cli_app() as container:
            return await notifications.list_deliveries(container.ctx, tenant, e_id, states=state or (),
                                                       limit=limit, offset=offset)

    found, total = run(body)
    shown = [NotificationDeliveryOut.of(d) for d in found]
    if as_json:
        print_json({"items": [d.model_dump(mode="json") for d in shown], "total": total, "limit": limit,
                    "offset": offset})
        return
    print_table(f"deliveries to {e_id} ({len(shown)} of {total})",
                ("eId", "type", "subject", "state", "attempts", "lastStatus", "ms", "nextAttemptAt"),
                (_delivery_row(d) for d in shown))


@app.command("retry")
def retry(
    e_id: str = typer.Argument(..., metavar="EID"),
    delivery: str = typer.Argument(..., metavar="DELIVERY_EID", help="The delivery's eId (its webhook-id)."),
    tenant: str = TenantOption, as_json: bool = JsonOption,
) -> None:
    """Deliver a notification again now (failed, pending or delivered)."""

    async def body() -> Any:
        async with cli_app() as container:
            return await notifications.retry_delivery(container.ctx, tenant, e_id, delivery)

    out = NotificationDeliveryOut.of(run(body))
    if as_json:
        print_json(out.model_dump(mode="json"))
    else:
        console.print(f"{out.eId} is due again ({out.type.value})", markup=False, highlight=False)
