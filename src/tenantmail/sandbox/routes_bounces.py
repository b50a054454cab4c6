"""Bounces API (server token, postmark-api.md §8.1)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tenantmail.sandbox.context import Sandbox
from tenantmail.sandbox.deps import SandboxDep, ServerDep
from tenantmail.sandbox.errors import ApiError, not_found
from tenantmail.sandbox.paging import page
from tenantmail.sandbox.state import Document
from tenantmail.sandbox.suppressions import unsuppress

router = APIRouter()


def _get(sandbox: Sandbox, server: Document, bounce_id: int) -> Document:
    record = sandbox.state.get("bounce", bounce_id)
    if record is None or record["ServerID"] != server["ID"]:
        raise not_found(1001, "Bounce")
    return record


def _without_content(record: Document) -> Document:
    return {k: v for k, v in record.items() if k != "Content"}


@router.get("/bounces")
async def list_bounces(request: Request, server: ServerDep, sandbox: SandboxDep) -> dict[str, object]:
    query = request.query_params
    stream = query.get("messagestream", "outbound")
    records = [b for b in reversed(sandbox.state.list("bounce", server["ID"]))
               if b["MessageStream"] == stream
               and query.get("type", b["Type"]) == b["Type"]
               and query.get("emailFilter", "").lower() in b["Email"]
               and query.get("messageID", b["MessageID"]) == b["MessageID"]
               and query.get("inactive", str(b["Inactive"]).lower()) == str(b["Inactive"]).lower()]
    total, items = page(request, records, query_error=1000)
    # Content (the bounce's raw text) comes only with the single record (postmark-api.md §8.1).
    return {"TotalCount": total, "Bounces": [_without_content(b) for b in items]}


@router.get("/bounces/{bounce_id}")
async def read_bounce(bounce_id: int, server: ServerDep, sandbox: SandboxDep) -> Document:
    return _get(sandbox, server, bounce_id)


@router.put("/bounces/{bounce_id}/activate")
async def activate_bounce(bounce_id: int, server: ServerDep, sandbox: SandboxDep) -> dict[str, object]:
    """Reactivation lifts the address's suppression on the bounce's stream (SubscriptionChange)."""
    record = _get(sandbox, server, bounce_id)
    if not record["CanActivate"]:
        raise ApiError(1003, "This bounce cannot be activated.")
    unsuppress(sandbox, server["ID"], record["MessageStream"], record["Email"])
    return {"Message": "OK", "Bounce": _get(sandbox, server, bounce_id)}
