"""Drift repair over HTTP (SPEC §18): ``POST /drift/repair``, for operators.

Not tenant-scoped (a repair run covers the whole partition, as the scan does), so no
``X-Tenant-Id``; ``X-Author`` is required, since every repair is recorded with its author.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, ConfigDict, Field

from tenantmail.entrypoints.api.deps import AUTHOR_DOC, ContainerDep, valid_author
from tenantmail.entrypoints.api.errors import ApiError
from tenantmail.entrypoints.api.json_route import JsonRoute
from tenantmail.entrypoints.api.schemas import error_responses
from tenantmail.services.repair_drift import repair_drift

router = APIRouter(route_class=JsonRoute)
MAX_IDS = 100


class RepairIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    apply: bool = Field(default=False, description="Carry out the planned repairs (false: the plan only).")
    deleteOrphanServerIds: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(
        default_factory=list, max_length=MAX_IDS,
        description="Orphan Postmark servers the operator confirms for deletion (exact ids).")
    deleteOrphanDomainIds: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(
        default_factory=list, max_length=MAX_IDS,
        description="Orphan Postmark Domains the operator confirms for deletion (exact ids).")


class RepairOut(BaseModel):
    scan: dict[str, Any] = Field(description="The scan the plan was made from (id, status, counts).")
    applied: bool
    author: str
    repairs: list[dict[str, Any]] = Field(
        description="One per finding: tag, subject, configurationEId, tenantId, expected, actual, "
        "action, status (planned, needs_confirmation, manual, applied, failed) and detail.")
    outstanding: int = Field(description="Repairs still to be done after this run (0: nothing left).")
    unmatchedConfirmations: dict[str, list[int]] = Field(
        description="Confirmed ids that name no orphan of this partition (nothing was deleted for them).")


async def required_author(
    x_author: Annotated[str | None, Header(description=AUTHOR_DOC + " Required here.")] = None,
) -> str:
    if not (x_author or "").strip():
        raise ApiError(400, "MissingAuthor", "the X-Author header is required: every repair is recorded with its author")
    return valid_author(x_author)


@router.post(
    "/drift/repair", response_model=RepairOut, responses=error_responses(400),
    summary="Scan for drift, plan the safe repairs, and apply them when asked",
    description="DNS records are re-UPSERTed from Postmark's current values; a configuration whose "
    "Postmark server or domain is gone moves to MISSING; an orphan server or domain is deleted only "
    "when its id is confirmed; a missing registry key is never repaired. A second run after a "
    "successful one plans nothing.",
)
async def post_repair(
    body: RepairIn, app: ContainerDep, author: Annotated[str, Depends(required_author)],
) -> dict[str, Any]:
    result = await repair_drift(
        app.ctx, apply=body.apply, author=author,
        delete_orphan_server_ids=body.deleteOrphanServerIds, delete_orphan_domain_ids=body.deleteOrphanDomainIds,
    )
    return result.to_json()
