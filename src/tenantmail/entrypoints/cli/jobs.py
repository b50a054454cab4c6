"""``tenantmail jobs``: read a tenant's email jobs (list with filters, show one)."""

from __future__ import annotations

import getpass
import uuid
from typing import Any

import typer

from tenantmail.domain.bounds import MAX_OFFSET
from tenantmail.domain.job import EmailJob, JobStatus
from tenantmail.domain.send_request import SendRequest, valid_address, validate_idempotency_key
from tenantmail.entrypoints.api.schemas_job import job_envelope
from tenantmail.entrypoints.cli.output import JsonOption, cli_app, print_json, print_record, print_table, run, tenant_option
from tenantmail.services.submit_send import submit_send

app = typer.Typer(help="Email jobs: send one, see what was queued, sent, failed.", no_args_is_help=True)
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
    offset: int = typer.Option(0, min=0, max=MAX_OFFSET),
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


@app.command("send")
def send(
    tenant: str = TenantOption,
    configuration: str = typer.Option(..., "--configuration", help="The configuration eId to send with (UNLOCKED, OK)."),
    to: str = typer.Option(..., "--to", help="The recipient."),
    subject: str = typer.Option(..., "--subject"),
    text: str = typer.Option(None, "--text", help="Plain-text body."),
    html: str = typer.Option(None, "--html", help="HTML body."),
    reply_to: str = typer.Option(None, "--reply-to"),
    idempotency_key: str = typer.Option(None, "--idempotency-key", help="Default: a new one (never a replay)."),
    author: str = typer.Option(None, "--author", help="Recorded on the job (default: cli:<login>)."),
    as_json: bool = JsonOption,
) -> None:
    """Queue one email, as ``POST /job`` does (same gates); a worker sends it on its next pass."""

    async def body() -> EmailJob:
        request = SendRequest.parse(configuration_e_id=configuration, recipient=to, subject=subject,
                                    reply_to_email=reply_to, html_body=html, text_body=text)
        key = validate_idempotency_key(idempotency_key or f"cli-{uuid.uuid4()}")
        async with cli_app() as container:
            submitted = await submit_send(container.ctx, tenant, idempotency_key=key, request=request,
                                          author=author or f"cli:{getpass.getuser()}", render=job_envelope)
            async with container.ctx.uow(tenant) as uow:
                return await uow.jobs.get(submitted.body["eId"])

    job = run(body)
    if as_json:
        print_json(job_envelope(job))
    else:
        print_record(f"job {job.e_id}", {"eId": job.e_id, "status": job.status.value, "recipient": job.recipient,
                                         "idempotencyKey": job.idempotency_key})


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
