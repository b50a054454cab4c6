"""Postmark's delivery webhook, and the events stored for a job (SPEC §4, §6).

The router is mounted without bearer auth: Postmark authenticates with HTTP Basic (configuration
eId + derived password). ``GET /job/{eId}/events`` declares the bearer check itself.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tenantmail.adapters.db.repositories.events import ConfigurationTenants
from tenantmail.adapters.postmark.webhook import normalize, parse_body
from tenantmail.bootstrap import Container
from tenantmail.domain.delivery_event import DeliveryEvent
from tenantmail.entrypoints.api.deps import ContainerDep, Page, Tenant, require_api_key
from tenantmail.entrypoints.api.json_route import JsonRoute
from tenantmail.entrypoints.api.schemas import PageOf, error_responses
from tenantmail.entrypoints.api.schemas_events import EventOut, WebhookAck
from tenantmail.services.ingest_webhook_event import WebhookCall, ingest_webhook_event
from tenantmail.services.read_events import list_events

router = APIRouter(route_class=JsonRoute)


def basic_credentials(authorization: str | None) -> tuple[str, str]:
    """(username, password) of a Basic ``Authorization`` header; empty strings when absent or bad."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    username, _, password = decoded.partition(":")
    return username, password


def parse_event(raw: bytes) -> DeliveryEvent:
    return normalize(parse_body(raw))


def configuration_tenants(request: Request) -> ConfigurationTenants:
    """The API process's cached configuration → tenant lookup (one per engine)."""
    app: Container = request.app.state.tenantmail
    state = request.app.state
    tenants: ConfigurationTenants | None = getattr(state, "configuration_tenants", None)
    if tenants is None or tenants.engine is not app.engine:
        tenants = state.configuration_tenants = ConfigurationTenants(app.engine)
    return tenants


@router.post(
    "/job/postmark-events", response_model=WebhookAck, responses=error_responses(400),
    summary="Receive one Postmark webhook event (HTTP Basic: configuration eId + webhook secret)",
)
async def receive_postmark_event(request: Request) -> JSONResponse:
    """Postmark posts each delivery event here with the configuration's Basic credentials; 200
    once stored (also for duplicates and unmatched events), 401 on bad credentials or ServerID,
    400 on a malformed body, 503 while the database is down (Postmark retries)."""
    # No dependencies (the hot path): the Container, the Basic credentials and the raw body come from the
    # request itself, and the answer is a ready response (response_model documents it), so the
    # fast lane (fast_lane.py) serves this very function.
    app: Container = request.app.state.tenantmail
    username, password = basic_credentials(request.headers.get("authorization"))
    # the body is read only once the credentials in the headers are checked (SPEC §14)
    result = await ingest_webhook_event(
        app.ctx, WebhookCall(username, password, request.body), locate=configuration_tenants(request),
        parse=parse_event,
    )
    return JSONResponse(WebhookAck(
        outcome=result.outcome.value, jobEId=result.job_e_id,
        status=result.status.value if result.status else None,
    ).model_dump(mode="json"))


@router.get(
    "/job/{eId}/events", response_model=PageOf[EventOut], responses=error_responses(404),
    dependencies=[Depends(require_api_key)], tags=["jobs"],
    summary="The delivery events stored for a job, oldest first",
)
async def job_events(eId: str, tenant: Tenant, page: Page, app: ContainerDep) -> PageOf[EventOut]:  # noqa: N803
    """The delivery events stored for one job of the tenant, oldest first, paginated."""
    items, total = await list_events(app.ctx, tenant, job_e_id=eId, limit=page.limit, offset=page.offset)
    return PageOf[EventOut](items=[EventOut.of(e) for e in items], total=total,
                            limit=page.limit, offset=page.offset)
