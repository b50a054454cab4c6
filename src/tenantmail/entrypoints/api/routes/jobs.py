"""Routes for jobs (SPEC §4, §5): ``POST /job``, ``GET /job/{eId}``, ``GET /job``.

The webhook (``POST /job/postmark-events``) and ``GET /job/{eId}/events`` live in ``webhooks.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from tenantmail.domain.bounds import parse_instant
from tenantmail.domain.job import JobStatus
from tenantmail.domain.send_request import valid_address, validate_idempotency_key
from tenantmail.entrypoints.api.deps import CALLER_HEADERS, ContainerDep, CallerDep, Page, Tenant, header_doc
from tenantmail.entrypoints.api.errors import ApiError
from tenantmail.entrypoints.api.json_route import JsonRoute
from tenantmail.entrypoints.api.schemas import PageOf, error_responses
from tenantmail.entrypoints.api.schemas_job import JobEnvelope, SendIn, job_envelope
from tenantmail.services.submit_send import submit_send

router = APIRouter(route_class=JsonRoute)
#: ``POST /job`` alone, mounted without the router-level bearer dependency: its one dependency,
#: ``CallerDep``, runs the same checks straight from the headers (the hot path, SPEC §13).
send_router = APIRouter(route_class=JsonRoute)
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_KEY = header_doc("idempotency-key", "1-255 printable ASCII; one send per key.", required=True)


@send_router.post(
    "/job", status_code=202, response_model=JobEnvelope,
    responses=error_responses(400, 403, 404, 409, 412, 413, 422),
    summary="Queue a send (idempotent by Idempotency-Key)",
    openapi_extra={"parameters": [*CALLER_HEADERS, IDEMPOTENCY_KEY]},
)
async def post_job(body: SendIn, who: CallerDep, request: Request) -> JSONResponse:
    """Validates, checks the gates (idempotency, configuration, sendable, suppression) and queues
    the send: 202 with the job. The same Idempotency-Key with the same body replays the first answer."""
    key = validate_idempotency_key(request.headers.get("idempotency-key"))
    result = await submit_send(
        who.app.ctx, who.tenant, idempotency_key=key, request=body.to_request(), author=who.author,
        render=job_envelope,
    )
    headers = {REPLAYED_HEADER: "true"} if result.replayed else None
    return JSONResponse(result.body, status_code=result.status, headers=headers)


DATE_TIME = {"format": "date-time"}  # parsed by the domain (bounds.parse_instant): numbers are refused
NO_HISTORY = Query(include_in_schema=False)  # accepted only to be refused (docs/decisions.md D16)


@router.get("/job/{eId}", response_model=JobEnvelope, responses=error_responses(400, 404), summary="Read a job")
async def get_job(
    e_id: Annotated[str, Path(alias="eId", description="The job's eId.")], app: ContainerDep, tenant: Tenant,
    recordedAsOf: Annotated[str | None, NO_HISTORY] = None, effectiveAsOf: Annotated[str | None, NO_HISTORY] = None,
) -> dict[str, Any]:
    """The job as it is now. Jobs keep no versions (their story is ``GET /job/{eId}/events``), so
    the configuration reads' ``recordedAsOf`` / ``effectiveAsOf`` answer 400 here rather than
    being ignored: the current state is not what an as-of read asked for."""
    if recordedAsOf is not None or effectiveAsOf is not None:
        raise ApiError(400, "ValidationError", "jobs keep no history: recordedAsOf / effectiveAsOf read "
                       "configurations only; a job's events are at GET /job/{eId}/events")
    async with app.ctx.uow(tenant) as uow:
        return job_envelope(await uow.jobs.get(e_id))


@router.get("/job", response_model=PageOf[JobEnvelope], responses=error_responses(400), summary="List jobs")
async def list_jobs(
    app: ContainerDep, tenant: Tenant, page: Page,
    status: Annotated[list[JobStatus] | None, Query(description="Any of these statuses.")] = None,
    recipient: Annotated[str | None, Query(description="Exact recipient (any case).")] = None,
    configurationEId: Annotated[str | None, Query()] = None,
    createdFrom: Annotated[str | None, Query(description="ISO 8601 date-time, inclusive.",
                                             json_schema_extra=DATE_TIME)] = None,
    createdTo: Annotated[str | None, Query(description="ISO 8601 date-time, exclusive.",
                                           json_schema_extra=DATE_TIME)] = None,
) -> dict[str, Any]:
    """The tenant's jobs, newest first, filtered by status, recipient, configuration and creation
    time, paginated."""
    async with app.ctx.uow(tenant) as uow:
        found, total = await uow.jobs.list(
            status=[s.value for s in status or ()], recipient=valid_address(recipient, "recipient") if recipient else None,
            configuration_e_id=configurationEId, created_from=_utc(createdFrom, "createdFrom"),
            created_to=_utc(createdTo, "createdTo"),
            limit=page.limit, offset=page.offset,
        )
    return {"items": [job_envelope(j) for j in found], "total": total, "limit": page.limit, "offset": page.offset}


def _utc(text: str | None, what: str) -> datetime | None:
    """A time given without an offset is read as UTC, as every time in the API is; 400 for what is
    not an ISO 8601 date-time or what UTC cannot hold (SPEC §14)."""
    return None if text is None else parse_instant(text, what)
