"""Routes for configurations (SPEC §3, §4, §18): create, read (also as of a moment), list, history,
signals, and the operator's edit of the From allow-list.

Generic PUT/DELETE are deliberately not mounted: a configuration changes only through signals and
``PATCH`` of the fields an operator may edit (``allowedFromLocalParts``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from tenantmail.domain.bounds import MAX_EPOCH_MS
from tenantmail.domain.configuration import Administrative, Operational, Signal
from tenantmail.entrypoints.api.deps import ContainerDep, Author, Page, Tenant
from tenantmail.entrypoints.api.json_route import JsonRoute
from tenantmail.entrypoints.api.schemas import PageOf, error_responses, from_epoch_ms
from tenantmail.entrypoints.api.schemas_configuration import (
    ConfigurationEnvelope,
    ConfigurationIn,
    ConfigurationPatch,
    SignalIn,
    ConfigurationVersionOut,
    configuration_envelope,
    version_entry,
)
from tenantmail.services.apply_signal import apply_signal
from tenantmail.services.configuration_queries import (
    VersionPage,
    configuration_history,
    get_configuration,
    list_configurations,
)
from tenantmail.services.create_configuration import create_configuration
from tenantmail.services.edit_configuration import edit_allowed_from_local_parts

router = APIRouter(route_class=JsonRoute)
EId = Annotated[str, Path(alias="eId", max_length=64, description="The configuration's eId.")]
EpochMs = Query(ge=0, le=MAX_EPOCH_MS, description="Epoch milliseconds (up to year 9999).")


@router.post(
    "/configuration", status_code=201, response_model=ConfigurationEnvelope,
    responses=error_responses(400, 409), summary="Create a configuration (PENDING, LOCKED)",
)
async def post_configuration(body: ConfigurationIn, app: ContainerDep, tenant: Tenant, author: Author) -> dict[str, Any]:
    """Creates a configuration PENDING and LOCKED; 409 when another live configuration owns the slug."""
    return configuration_envelope(await create_configuration(app.ctx, tenant, body.to_request(), author=author))


@router.get(
    "/configuration", response_model=PageOf[ConfigurationEnvelope], responses=error_responses(400),
    summary="List configurations (filter by states)",
)
async def get_configurations(
    app: ContainerDep, tenant: Tenant, page: Page,
    operationalStatus: Annotated[list[Operational] | None, Query(description="Any of these.")] = None,
    administrativeStatus: Annotated[list[Administrative] | None, Query(description="Any of these.")] = None,
) -> dict[str, Any]:
    """The tenant's configurations, filtered by operational and administrative states, paginated."""
    found = await list_configurations(
        app.ctx, tenant, operational=[s.value for s in operationalStatus or ()],
        administrative=[s.value for s in administrativeStatus or ()], limit=page.limit, offset=page.offset,
    )
    return _page(found, configuration_envelope)


@router.get(
    "/configuration/{eId}", response_model=ConfigurationEnvelope, responses=error_responses(400, 404),
    summary="Read a configuration, now or as of a moment",
)
async def get_one(
    e_id: EId, app: ContainerDep, tenant: Tenant,
    recordedAsOf: Annotated[int | None, EpochMs] = None,
    effectiveAsOf: Annotated[int | None, EpochMs] = None,
) -> dict[str, Any]:
    """The configuration now, or as recorded (recordedAsOf) / in force (effectiveAsOf) at a moment
    in epoch milliseconds."""
    version = await get_configuration(
        app.ctx, tenant, e_id, recorded_as_of=_end_of(recordedAsOf), effective_as_of=_end_of(effectiveAsOf),
    )
    return configuration_envelope(version)


def _end_of(epoch_ms: int | None) -> datetime | None:
    """The last instant of that millisecond: a version recorded during it is in force at it
    (envelopes round ``asOf`` down to the millisecond, times are stored to the microsecond)."""
    if epoch_ms is None:
        return None
    return from_epoch_ms(epoch_ms) + timedelta(microseconds=999)


@router.get(
    "/configuration/{eId}/history", response_model=PageOf[ConfigurationVersionOut],
    responses=error_responses(400, 404), summary="Every version of a configuration, oldest first",
)
async def get_history(e_id: EId, app: ContainerDep, tenant: Tenant, page: Page) -> dict[str, Any]:
    """Every recorded version with its author and cause, oldest first, paginated."""
    return _page(await configuration_history(app.ctx, tenant, e_id, limit=page.limit, offset=page.offset), version_entry)


SIGNAL_DESCRIPTION = (
    "One lifecycle signal (SPEC §3); re-provision takes an optional body {\"authentication\": \"domain\"} "
    "that migrates a signature configuration to a Postmark Domain (SPEC §18). "
    "409 names the current states when the signal is not allowed; "
    "503 when Postmark or DNS failed during re-provision / re-verify / remove (nothing changed; "
    "send it again)."
)
#: signal → (operationId, summary); one route each, so each is its own operation in the contract
SIGNAL_OPERATIONS = {
    signal: (operation_id, f"Send the {signal.value} signal")
    for signal, operation_id in (
        (Signal.PROVISION, "provisionConfiguration"), (Signal.RE_PROVISION, "reprovisionConfiguration"),
        (Signal.RE_VERIFY, "reverifyConfiguration"), (Signal.LOCK, "lockConfiguration"),
        (Signal.FORCE_LOCK, "forceLockConfiguration"), (Signal.UNLOCK, "unlockConfiguration"),
        (Signal.REMOVE, "removeConfiguration"),
    )
}


def _signal_route(signal: Signal, operation_id: str, summary: str) -> None:
    async def post_signal(
        e_id: EId, app: ContainerDep, tenant: Tenant, author: Author, body: SignalIn | None = None,
    ) -> dict[str, Any]:
        authentication = body.authentication if body is not None else None
        return configuration_envelope(
            await apply_signal(app.ctx, tenant, e_id, signal, author=author, authentication=authentication)
        )

    router.post(
        f"/configuration/{{eId}}/{signal.value}", response_model=ConfigurationEnvelope,
        responses=error_responses(400, 404, 409), summary=summary, description=SIGNAL_DESCRIPTION,
        operation_id=operation_id, name=f"signal_{signal.name.lower()}",
    )(post_signal)


for _signal, (_operation_id, _summary) in SIGNAL_OPERATIONS.items():
    _signal_route(_signal, _operation_id, _summary)


@router.patch(
    "/configuration/{eId}", response_model=ConfigurationEnvelope, responses=error_responses(400, 404, 409),
    summary="Edit a configuration's From allow-list",
    description="Replaces allowedFromLocalParts (SPEC §18); recorded as a history version with the "
    "author. 400 when the list is invalid for the configuration (a signature configuration allows "
    "only its own local part); 409 for a removed configuration or a concurrent change.",
)
async def patch_configuration(
    e_id: EId, body: ConfigurationPatch, app: ContainerDep, tenant: Tenant, author: Author,
) -> dict[str, Any]:
    version = await edit_allowed_from_local_parts(
        app.ctx, tenant, e_id, list(body.allowedFromLocalParts), author=author,
    )
    return configuration_envelope(version)


def _page(found: VersionPage, render: Any) -> dict[str, Any]:
    return {"items": [render(v) for v in found.items], "total": found.total, "limit": found.limit,
            "offset": found.offset}
