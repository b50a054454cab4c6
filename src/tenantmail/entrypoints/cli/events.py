"""``tenantmail events``: the delivery events Postmark reported for a tenant, or for one job."""

from __future__ import annotations

import typer

from tenantmail.domain.bounds import MAX_OFFSET
from tenantmail.domain.delivery_event import StoredEvent
from tenantmail.entrypoints.api.schemas_events import EventOut
from tenantmail.entrypoints.cli.output import JsonOption, cli_app, tenant_option, print_json, print_table, run
from tenantmail.services.read_events import list_events

app = typer.Typer(help="Delivery events received from Postmark webhooks.")


@app.callback(invoke_without_command=True)
def events(
    tenant: str = tenant_option("The tenant whose events to read."),
    job: str = typer.Option(None, "--job", help="Only this job's events (eId)."),
    limit: int = typer.Option(100, min=1, max=500),
    offset: int = typer.Option(0, min=0, max=MAX_OFFSET),
    as_json: bool = JsonOption,
) -> None:
    """List stored events, oldest first."""

    async def body() -> tuple[list[StoredEvent], int]:
        async with cli_app() as container:
            return await list_events(container.ctx, tenant, job_e_id=job, limit=limit, offset=offset)

    items, total = run(body)
    if as_json:
        print_json({"items": [EventOut.of(e).model_dump() for e in items], "total": total,
                    "limit": limit, "offset": offset})
        return
    print_table(f"events of {job or tenant} ({len(items)} of {total})",
                ("occurredAt", "recordType", "recipient", "messageId", "job", "receivedAt"),
                ((e.occurred_at, e.record_type, e.recipient, e.message_id, e.job_e_id, e.received_at)
                 for e in items))
