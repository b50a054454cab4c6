"""``tenantmail jobs``: read a tenant's email jobs (list with filters, show one)."""

from __future__ import annotations

from typing import Any

import typer

from tenantmail.domain.job import EmailJob, JobStatus
from tenantmail.domain.send_request import valid_address
from tenantmail.entrypoints.api.schemas_job import job_envelope
from tenantmail.entrypoints.cli.output import JsonOption, cli_app, tenant_option, print_json, print_record, print_table, run

app = typer.Typer(help="Email jobs: what was queued, sent, failed.", no_args_is_help=True)
TenantOption = tenant_option("The tenant whose jobs to read.")


def _row(job: EmailJob) -> tuple[Any, ...]:
    err = job.last_error
    return (job.e_id, job.status.value, job.recipient, job.attempts, job.message_id,
            f"{err.error_class}/{err.code}" if err else "", job.created_at)


@app.command("list")
def list_jobs(
    tenant: str = TenantOption,
    status: list[JobStatus] = typer.Option(None, "--status", help="Repeat for several statuses."),
    recipient: str = typer.Option(None, help="Exact recipient (any case)."),
    configuration: str = typer.Option(None, "--configuration", help="Configuration eId."),
    limit: int = typer.Option(50, min=1, max=500),
    offset: int = typer.Option(0, min=0),
    as_json: bool = JsonOption,
) -> None:
    """List jobs, newest first."""

    async def body() -> tuple[list[EmailJob], int]:
        async with cli_app() as container, container.ctx.uow(tenant) as uow:
            return await uow.jobs.list(
                status=[s.value for s in status or ()], configuration_e_id=configuration,
                recipient=valid_address(recipient, "recipient") if recipient else None,
                limit=limit, offset=offset,
            )

    jobs, total = run(body)
    if as_json:
        print_json({"items": [job_envelope(j) for j in jobs], "total": total, "limit": limit, "offset": offset})
        return
    print_table(f"jobs of {tenant} ({len(jobs)} of {total})",
                ("eId", "status", "recipient", "attempts", "messageId", "lastError", "createdAt"),
                (_row(j) for j in jobs))


@app.command("show")
def show_job(e_id: str = typer.Argument(..., help="The job's eId."), tenant: str = TenantOption,
             as_json: bool = JsonOption) -> None:
    """Show one job."""

    async def body() -> EmailJob:
        async with cli_app() as container, container.ctx.uow(tenant) as uow:
            return await uow.jobs.get(e_id)

    job = run(body)
    envelope = job_envelope(job)
    if as_json:
        print_json(envelope)
        return
    print_record(f"job {job.e_id}", {"eId": job.e_id, "rId": envelope["rId"], **envelope["payload"],
                                     "idempotencyKey": job.idempotency_key, "author": job.author})
