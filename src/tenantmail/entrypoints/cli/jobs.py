"""``tenantmail jobs``: read a tenant's email jobs (list with filters, show one)."""

from __future__ import annotations

import getpass
import uuid
from datetime import datetime
from typing import Any

import typer

from tenantmail.domain.errors import InvalidInput
from tenantmail.domain.bounds import MAX_OFFSET, parse_instant
from tenantmail.domain.job import EmailJob, JobStatus
from tenantmail.domain.job_search import JobSearch
from tenantmail.domain.send_request import SendRequest, validate_idempotency_key
from tenantmail.entrypoints.api.schemas_job import job_envelope
from tenantmail.entrypoints.cli.output import JsonOption, cli_app, print_json, print_record, print_table, run, tenant_option
from tenantmail.services.submit_send import submit_send

app = typer.Typer(help="Email jobs: send one, see what was queued, sent, failed.", no_args_is_help=True)
TenantOption = tenant_option("The tenant whose jobs to read.")


def _row(job: EmailJob) -> tuple[Any, ...]:
    err = job.last_error
    return (job.e_id, job.status.value, job.recipient, job.tag or "", job.attempts, job.message_id,
            f"{err.error_class}/{err.code}" if err else "", job.created_at)


def _pairs(given: list[str] | None, option: str) -> dict[str, str]:
    """``KEY=VALUE`` options as a mapping (checked by the rules of the job fields)."""
    pairs: dict[str, str] = {}
    for item in given or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"{option} takes KEY=VALUE (got '{item}')")
        if key in pairs:
            raise InvalidInput(f"{option} {key} given twice")
        pairs[key] = value
    return pairs


@app.command("list")
def list_jobs(
    tenant: str = TenantOption,
    status: list[JobStatus] = typer.Option(None, "--status", help="Repeat for several statuses."),
    recipient: str = typer.Option(None, help="Exact recipient (any case)."),
    configuration: str = typer.Option(None, "--configuration", help="Configuration eId."),
    tag: str = typer.Option(None, "--tag", help="Exact tag."),
    metadata: list[str] = typer.Option(None, "--metadata", help="KEY=VALUE; repeat: jobs having every pair."),
    message_id: str = typer.Option(None, "--message-id", help="Postmark's MessageID."),
    subject: str = typer.Option(None, "--subject", help="Subject contains this text (any case)."),
    created_from: str = typer.Option(None, "--created-from", help="ISO 8601 (UTC unless an offset is given), inclusive."),
    created_to: str = typer.Option(None, "--created-to", help="ISO 8601, exclusive."),
    limit: int = typer.Option(50, min=1, max=500),
    offset: int = typer.Option(0, min=0, max=MAX_OFFSET),
    as_json: bool = JsonOption,
) -> None:
    """List jobs, newest first; every filter narrows (the filters of GET /job)."""

    async def body() -> tuple[list[EmailJob], int]:
        search = JobSearch.parse(
            statuses=status or (), recipient=recipient, configuration_e_id=configuration, tag=tag,
            metadata=_pairs(metadata, "--metadata"), message_id=message_id, subject_contains=subject,
            created_from=_instant(created_from, "--created-from"), created_to=_instant(created_to, "--created-to"),
        )
        async with cli_app() as container, container.ctx.uow(tenant) as uow:
            return await uow.jobs.list(search, limit=limit, offset=offset)

    jobs, total = run(body)
    if as_json:
        print_json({"items": [job_envelope(j) for j in jobs], "total": total, "limit": limit, "offset": offset})
        return
    print_table(f"jobs of {tenant} ({len(jobs)} of {total})",
                ("eId", "status", "recipient", "tag", "attempts", "messageId", "lastError", "createdAt"),
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
    tag: str = typer.Option(None, "--tag", help="Your label for the send (Postmark Tag)."),
    metadata: list[str] = typer.Option(None, "--metadata", help="KEY=VALUE (Postmark Metadata); repeat for several."),
    idempotency_key: str = typer.Option(None, "--idempotency-key", help="Default: a new one (never a replay)."),
    author: str = typer.Option(None, "--author", help="Recorded on the job (default: cli:<login>)."),
    as_json: bool = JsonOption,
) -> None:
    """Queue one email, as ``POST /job`` does (same gates); a worker sends it on its next pass."""

    async def body() -> EmailJob:
        key = validate_idempotency_key(idempotency_key or f"cli-{uuid.uuid4()}")
        async with cli_app() as container:
            request = SendRequest.parse(configuration_e_id=configuration, recipient=to, subject=subject,
                                        reply_to_email=reply_to, html_body=html, text_body=text,
                                        tag=tag, metadata=_pairs(metadata, "--metadata"),
                                        html_policy=container.settings.html_policy)
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


def _instant(text: str | None, what: str) -> datetime | None:
    """An ISO 8601 date-time read as the API reads it (``bounds.parse_instant``: UTC unless an
    offset is given; what UTC cannot hold is refused)."""
    return None if text is None else parse_instant(text, what)
