"""Routes for jobs (SPEC §4, §5): ``POST /job``, ``GET /job/{eId}``, ``GET /job``.

The webhook (``POST /job/postmark-events``) and ``GET /job/{eId}/events`` live in ``webhooks.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from tenantmail.domain.bounds import parse_instant
from tenantmail.domain.errors import DomainError, InvalidInput, PayloadTooLarge
from tenantmail.domain.job import JobStatus
from tenantmail.domain.job_search import (
    COUNT_UP_TO, FILTER_PARAMETERS, METADATA_PARAMETER_PREFIX, JobSearch, unknown_parameters,
)
from tenantmail.domain.send_request import validate_idempotency_key
from tenantmail.entrypoints.api.deps import CALLER_HEADERS, Author, ContainerDep, CallerDep, Page, Tenant, header_doc
from tenantmail.entrypoints.api.errors import ApiError, validation_message
from tenantmail.entrypoints.api.json_route import JsonRoute
from tenantmail.entrypoints.api.schemas import CountedPageOf, error_responses
from tenantmail.entrypoints.api.schemas_job import BatchIn, BatchMessageIn, BatchOut, JobEnvelope, SendIn, job_envelope
from tenantmail.services.submit_batch import MAX_MESSAGES, BatchItem, ItemResult, submit_batch
from tenantmail.services.submit_send import submit_send

router = APIRouter(route_class=JsonRoute)
#: ``POST /job`` alone, mounted without the router-level bearer dependency: its one dependency,
#: ``CallerDep``, runs the same checks straight from the headers (the hot path, SPEC §13).
send_router = APIRouter(route_class=JsonRoute)
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_KEY = header_doc("idempotency-key", "1-255 printable ASCII; one send per key.", required=True)


@send_router.post(
    "/job", status_code=202, response_model=JobEnvelope,
    responses=error_responses(400, 403, 404, 409, 412, 413, 422, 429),
    summary="Queue a send (idempotent by Idempotency-Key)",
    openapi_extra={"parameters": [*CALLER_HEADERS, IDEMPOTENCY_KEY]},
)
async def post_job(body: SendIn, who: CallerDep, request: Request) -> JSONResponse:
    """Validates, checks the gates (idempotency, configuration, sendable, suppression) and queues
    the send: 202 with the job. The same Idempotency-Key with the same body replays the first answer."""
    key = validate_idempotency_key(request.headers.get("idempotency-key"))
    result = await submit_send(
        who.app.ctx, who.tenant, idempotency_key=key, request=body.to_request(who.app.settings.html_policy),
        author=who.author, render=job_envelope,
    )
    headers = {REPLAYED_HEADER: "true"} if result.replayed else None
    return JSONResponse(result.body, status_code=result.status, headers=headers)


@router.post(
    "/job/batch", response_model=BatchOut, response_model_exclude_none=True, responses=error_responses(400, 413),
    summary="Queue up to 500 sends, each idempotent by its own key",
    description="Each message is gated and idempotent exactly as `POST /job` (its `status` is what `POST /job` "
    "would have answered); the accepted ones are committed in one transaction. A malformed message fails only "
    "itself. Results are in input order.",
    openapi_extra={"parameters": list(CALLER_HEADERS)},
)
async def post_job_batch(body: BatchIn, app: ContainerDep, tenant: Tenant, author: Author) -> dict[str, Any]:
    if len(body.messages) > MAX_MESSAGES:  # before reading any of them
        raise PayloadTooLarge(f"a batch holds at most {MAX_MESSAGES} messages (got {len(body.messages)})")
    items = [_batch_item(i, m, app.settings.html_policy) for i, m in enumerate(body.messages)]
    results = await submit_batch(app.ctx, tenant, items, author=author, render=job_envelope)
    return {"results": [_result(r) for r in results]}


def _batch_item(index: int, message: dict[str, Any], html_policy: str) -> BatchItem:
    try:
        parsed = BatchMessageIn.model_validate(message)
        key = validate_idempotency_key(parsed.idempotencyKey)
        return BatchItem(request=parsed.to_request(html_policy), idempotency_key=key)
    except ValidationError as exc:
        return BatchItem(error=InvalidInput(validation_message(exc.errors(include_url=False), f"messages[{index}]")))
    except DomainError as exc:
        return BatchItem(error=exc)


def _result(result: ItemResult) -> dict[str, Any]:
    out: dict[str, Any] = {"index": result.index, "status": result.status}
    if result.e_id is not None:
        out["eId"] = result.e_id
    if result.replayed:
        out["replayed"] = True
    if result.error is not None:
        error: dict[str, Any] = {"error": result.error.kind, "message": result.error.message}
        if result.error.details:
            error["details"] = result.error.details
        out["error"] = error
    return out


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


METADATA_FILTER_DOC = (
    "Also: `metadata.{key}={value}` (repeatable, one per key): jobs whose metadata has every pair given. "
    "Any other parameter is refused (400 naming it)."
)


@router.get("/job", response_model=CountedPageOf[JobEnvelope], responses=error_responses(400), summary="List and search jobs",
            description="Newest first. Every filter narrows the result. " + METADATA_FILTER_DOC)
async def list_jobs(
    request: Request, app: ContainerDep, tenant: Tenant, page: Page,
    status: Annotated[list[JobStatus] | None, Query(description="Any of these statuses (repeat the parameter).")] = None,
    recipient: Annotated[str | None, Query(description="Exact recipient (any case).")] = None,
    configurationEId: Annotated[str | None, Query()] = None,
    tag: Annotated[str | None, Query(description="Exact tag.")] = None,
    messageId: Annotated[str | None, Query(description="Postmark's MessageID.")] = None,
    subject: Annotated[str | None, Query(description="Subject contains this text (any case).")] = None,
    createdFrom: Annotated[str | None, Query(description="ISO 8601 date-time, inclusive.",
                                             json_schema_extra=DATE_TIME)] = None,
    createdTo: Annotated[str | None, Query(description="ISO 8601 date-time, exclusive.",
                                           json_schema_extra=DATE_TIME)] = None,
) -> dict[str, Any]:
    names = list(request.query_params.keys())
    unknown = unknown_parameters(names)
    if unknown:
        raise ApiError(400, "ValidationError", "unknown query parameter(s): " + ", ".join(unknown)
                       + f"; GET /job takes {', '.join(FILTER_PARAMETERS)}, metadata.{{key}}, limit and offset")
    metadata: dict[str, str] = {}
    for name in names:
        if name.startswith(METADATA_PARAMETER_PREFIX):
            values = request.query_params.getlist(name)
            if len(values) > 1:
                raise ApiError(400, "ValidationError", f"{name} given {len(values)} times; give each metadata key once")
            metadata[name.removeprefix(METADATA_PARAMETER_PREFIX)] = values[0]
    search = JobSearch.parse(
        statuses=status or (), recipient=recipient, configuration_e_id=configurationEId, tag=tag,
        metadata=metadata, message_id=messageId, subject_contains=subject,
        created_from=_utc(createdFrom, "createdFrom"), created_to=_utc(createdTo, "createdTo"),
    )
    async with app.ctx.uow(tenant) as uow:
        found, total = await uow.jobs.list(search, limit=page.limit, offset=page.offset, count_up_to=COUNT_UP_TO)
    return {"items": [job_envelope(j) for j in found], "total": total, "limit": page.limit, "offset": page.offset,
            "totalIsLowerBound": total > COUNT_UP_TO}


def _utc(text: str | None, what: str) -> datetime | None:
    """A time given without an offset is read as UTC, as every time in the API is; 400 for what is
    not an ISO 8601 date-time or what UTC cannot hold (SPEC §14)."""
    return None if text is None else parse_instant(text, what)
