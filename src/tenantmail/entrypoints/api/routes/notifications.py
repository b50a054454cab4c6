"""Routes for a tenant's notification endpoints and their delivery log (SPEC §17)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from tenantmail.domain.notification import DeliveryState
from tenantmail.entrypoints.api.deps import ContainerDep, Page, Tenant
from tenantmail.entrypoints.api.schemas import PageOf, error_responses
from tenantmail.entrypoints.api.schemas_notification import (
    NotificationDeliveryOut,
    NotificationEndpointIn,
    NotificationEndpointOut,
    NotificationEndpointPatch,
    NotificationEndpointWithSecret,
)
from tenantmail.services import manage_notifications as notifications

router = APIRouter()
EId = Annotated[str, Path(alias="eId", max_length=64, description="The endpoint's eId.")]
DeliveryEId = Annotated[str, Path(alias="deliveryEId", max_length=64, description="The delivery's eId (its webhook-id).")]
BASE = "/notification-endpoint"


@router.post(BASE, status_code=201, response_model=NotificationEndpointWithSecret, responses=error_responses(400),
             operation_id="createNotificationEndpoint", summary="Add an endpoint (the answer holds its secret, once)")
async def create_endpoint(body: NotificationEndpointIn, tenant: Tenant, app: ContainerDep) -> NotificationEndpointWithSecret:
    """Events of the types asked for (none: all) are signed with the secret (Standard Webhooks) and
    POSTed to the URL at least once, in order per job. The secret is in this answer only."""
    endpoint, secret = await notifications.create_endpoint(
        app.ctx, tenant, url=body.url, event_types=body.eventTypes, description=body.description, enabled=body.enabled)
    return NotificationEndpointWithSecret.with_secret(endpoint, secret)


@router.get(BASE, response_model=PageOf[NotificationEndpointOut], responses=error_responses(400),
            operation_id="listNotificationEndpoints", summary="The tenant's endpoints, oldest first")
async def list_endpoints(tenant: Tenant, page: Page, app: ContainerDep) -> PageOf[NotificationEndpointOut]:
    """Without their secrets."""
    found, total = await notifications.list_endpoints(app.ctx, tenant, limit=page.limit, offset=page.offset)
    return PageOf[NotificationEndpointOut](items=[NotificationEndpointOut.of(e) for e in found], total=total,
                                           limit=page.limit, offset=page.offset)


@router.get(BASE + "/{eId}", response_model=NotificationEndpointOut, responses=error_responses(400, 404),
            operation_id="getNotificationEndpoint", summary="Read an endpoint")
async def get_endpoint(e_id: EId, tenant: Tenant, app: ContainerDep) -> NotificationEndpointOut:
    """Its settings and health (why and since when it is disabled or failing), without the secret."""
    return NotificationEndpointOut.of(await notifications.get_endpoint(app.ctx, tenant, e_id))


@router.patch(BASE + "/{eId}", response_model=NotificationEndpointOut, responses=error_responses(400, 404),
              operation_id="updateNotificationEndpoint", summary="Change an endpoint's URL, types, description, enabled")
async def patch_endpoint(e_id: EId, body: NotificationEndpointPatch, tenant: Tenant, app: ContainerDep) -> NotificationEndpointOut:
    """Fields left out stay as they are; `enabled: true` re-enables a disabled endpoint."""
    return NotificationEndpointOut.of(await notifications.update_endpoint(app.ctx, tenant, e_id, body.to_change()))


@router.delete(BASE + "/{eId}", status_code=204, responses=error_responses(400, 404),
               operation_id="deleteNotificationEndpoint", summary="Delete an endpoint and its undelivered notifications")
async def delete_endpoint(e_id: EId, tenant: Tenant, app: ContainerDep) -> Response:
    """Nothing more is sent to it; its delivery log goes with it."""
    await notifications.delete_endpoint(app.ctx, tenant, e_id)
    return Response(status_code=204)


@router.post(BASE + "/{eId}/rotate-secret", response_model=NotificationEndpointWithSecret,
             responses=error_responses(400, 404), operation_id="rotateNotificationSecret",
             summary="A new secret (in the answer, once); the old one still signs, beside it, for 24 h")
async def rotate_secret(e_id: EId, tenant: Tenant, app: ContainerDep) -> NotificationEndpointWithSecret:
    """During the 24 h after a rotation every notification carries two signatures."""
    endpoint, secret = await notifications.rotate_secret(app.ctx, tenant, e_id)
    return NotificationEndpointWithSecret.with_secret(endpoint, secret)


@router.get(BASE + "/{eId}/deliveries", response_model=PageOf[NotificationDeliveryOut],
            responses=error_responses(400, 404), operation_id="listNotificationDeliveries",
            summary="The endpoint's delivery log, newest first")
async def list_deliveries(
    e_id: EId, tenant: Tenant, page: Page, app: ContainerDep,
    state: Annotated[list[DeliveryState] | None, Query(description="Any of these states.")] = None,
) -> PageOf[NotificationDeliveryOut]:
    """Each notification for this endpoint: attempts, last status code and latency, next attempt."""
    found, total = await notifications.list_deliveries(app.ctx, tenant, e_id, states=state or (),
                                                       limit=page.limit, offset=page.offset)
    return PageOf[NotificationDeliveryOut](items=[NotificationDeliveryOut.of(d) for d in found], total=total,
                                           limit=page.limit, offset=page.offset)


@router.post(BASE + "/{eId}/deliveries/{deliveryEId}/retry", response_model=NotificationDeliveryOut,
             responses=error_responses(400, 404), operation_id="retryNotificationDelivery",
             summary="Deliver again now (a failed, pending or delivered notification)")
async def retry_delivery(e_id: EId, delivery_e_id: DeliveryEId, tenant: Tenant, app: ContainerDep) -> NotificationDeliveryOut:
    """Due now, with a fresh 24 h retry window; sent with the same webhook-id and body."""
    return NotificationDeliveryOut.of(await notifications.retry_delivery(app.ctx, tenant, e_id, delivery_e_id))
