"""A tenant's notification endpoints and their delivery log (SPEC §17), for API, CLI and console.

Secrets are sealed with the server-token cipher (AES-GCM, the endpoint's eId as associated data)
before they are stored; the plaintext ``whsec_`` secret leaves only in the answer of
:func:`create_endpoint` and :func:`rotate_secret`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from tenantmail.domain.errors import InvalidInput
from tenantmail.domain.notification import (
    DeliveryState,
    DisabledReason,
    NotificationDelivery,
    NotificationEndpoint,
    NotificationType,
    validate_url,
)
from tenantmail.services.context import ServiceContext

MAX_DESCRIPTION = 1000


@dataclass(frozen=True)
class EndpointChange:
    """A PATCH: None leaves a field as it is."""

    url: str | None = None
    event_types: Sequence[NotificationType] | None = None
    description: str | None = None
    enabled: bool | None = None


def _description(text: str) -> str:
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(f"description: at most {MAX_DESCRIPTION} characters")
    return text


def _sealed(ctx: ServiceContext, endpoint: NotificationEndpoint) -> NotificationEndpoint:
    return replace(endpoint, secret=ctx.cipher.encrypt(endpoint.secret, aad=endpoint.e_id),
                   previous_secret=ctx.cipher.encrypt(endpoint.previous_secret, aad=endpoint.e_id)
                   if endpoint.previous_secret else None)


async def create_endpoint(
    ctx: ServiceContext, tenant_id: str, *, url: str, event_types: Sequence[NotificationType] = (),
    description: str = "", enabled: bool = True,
) -> tuple[NotificationEndpoint, str]:
    """The new endpoint and its secret (shown this once)."""
    endpoint = NotificationEndpoint.new(
        tenant_id=tenant_id, url=url, event_types=event_types, description=_description(description),
        enabled=enabled, live=ctx.settings.is_live, now=ctx.clock(),
    )
    async with ctx.uow(tenant_id) as uow:
        await uow.notifications.add(_sealed(ctx, endpoint))
        await uow.commit()
    ctx.telemetry.emit("email.notification.endpoint_created", tenant_id=tenant_id, endpoint_id=endpoint.e_id)
    return endpoint, endpoint.secret


async def list_endpoints(ctx: ServiceContext, tenant_id: str, *, limit: int = 50,
                         offset: int = 0) -> tuple[list[NotificationEndpoint], int]:
    async with ctx.uow(tenant_id) as uow:
        return await uow.notifications.list(limit=limit, offset=offset)


async def get_endpoint(ctx: ServiceContext, tenant_id: str, e_id: str) -> NotificationEndpoint:
    async with ctx.uow(tenant_id) as uow:
        return await uow.notifications.get(e_id)


async def update_endpoint(ctx: ServiceContext, tenant_id: str, e_id: str, change: EndpointChange) -> NotificationEndpoint:
    """Apply ``change``; enabling an endpoint clears why it was disabled and its failing streak."""
    now = ctx.clock()
    url = validate_url(change.url, live=ctx.settings.is_live) if change.url is not None else None
    async with ctx.uow(tenant_id) as uow:
        endpoint = await uow.notifications.get(e_id, for_update=True)
        if url is not None:
            endpoint.url = url
        if change.event_types is not None:
            endpoint.event_types = tuple(sorted(set(change.event_types)))
        if change.description is not None:
            endpoint.description = _description(change.description)
        if change.enabled is True and not endpoint.enabled:
            endpoint.enable(now)
        elif change.enabled is False and endpoint.enabled:
            endpoint.disable(DisabledReason.OPERATOR, now)
        endpoint.updated_at = now
        await uow.notifications.save(endpoint)
        await uow.commit()
    return endpoint


async def delete_endpoint(ctx: ServiceContext, tenant_id: str, e_id: str) -> None:
    async with ctx.uow(tenant_id) as uow:
        await uow.notifications.get(e_id)  # NotFound (404)
        await uow.notifications.delete(e_id)
        await uow.commit()


async def rotate_secret(ctx: ServiceContext, tenant_id: str, e_id: str) -> tuple[NotificationEndpoint, str]:
    """A new secret (shown this once); the old one keeps signing beside it for a day."""
    now = ctx.clock()
    async with ctx.uow(tenant_id) as uow:
        endpoint = await uow.notifications.get(e_id, for_update=True)
        endpoint.secret = ctx.cipher.decrypt(endpoint.secret, aad=e_id)
        endpoint.previous_secret = None
        secret = endpoint.rotate_secret(now)
        await uow.notifications.save(_sealed(ctx, endpoint))
        await uow.commit()
    ctx.telemetry.emit("email.notification.secret_rotated", tenant_id=tenant_id, endpoint_id=e_id)
    return endpoint, secret


async def list_deliveries(
    ctx: ServiceContext, tenant_id: str, e_id: str, *, states: Sequence[DeliveryState] = (),
    limit: int = 50, offset: int = 0,
) -> tuple[list[NotificationDelivery], int]:
    async with ctx.uow(tenant_id) as uow:
        await uow.notifications.get(e_id)  # NotFound (404)
        return await uow.notifications.deliveries(e_id, states=states, limit=limit, offset=offset)


async def retry_delivery(ctx: ServiceContext, tenant_id: str, e_id: str, message_id: str) -> NotificationDelivery:
    """Due now again (failed, pending or already delivered), with a fresh retry window."""
    async with ctx.uow(tenant_id) as uow:
        await uow.notifications.get(e_id)
        await uow.notifications.delivery(e_id, message_id)  # NotFound (404)
        await uow.notifications.retry(e_id, message_id, ctx.clock())
        delivery = await uow.notifications.delivery(e_id, message_id)
        await uow.commit()
    return delivery
