"""Bounces API and delivery stats (server token, postmark-api.md §8.1)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tenantmail.sandbox.context import Sandbox
from tenantmail.sandbox.deps import SandboxDep, ServerDep
from tenantmail.sandbox.errors import ApiError, not_found
from tenantmail.sandbox.outcomes import BOUNCE_TYPES
from tenantmail.sandbox.paging import MAX_WINDOW, page
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
               and query.get("tag", b["Tag"]) == b["Tag"]
               and query.get("emailFilter", "").lower() in b["Email"]
               and query.get("messageID", b["MessageID"]) == b["MessageID"]
               and query.get("inactive", str(b["Inactive"]).lower()) == str(b["Inactive"]).lower()]
    total, items = page(request, records, query_error=1000, window=MAX_WINDOW)
    # Content (the bounce's raw text) comes only with the single record (postmark-api.md §8.1).
    return {"TotalCount": total, "Bounces": [_without_content(b) for b in items]}


@router.get("/deliverystats")
async def delivery_stats(server: ServerDep, sandbox: SandboxDep) -> dict[str, object]:
    """Bounce counts per type (types with none are left out, as on Postmark) after an ``All``
    total; ``InactiveMails`` counts the distinct addresses deactivated by a bounce.

    Every item carries ``Type`` and ``TypeCode`` (``All``: ``"All"`` and 0). Postmark's docs show
    the ``All`` item with ``Name`` and ``Count`` only; the official SDK's model requires both
    fields on every item, so the emulator adds them (clients that follow the docs ignore them).
    """
    records = sandbox.state.list("bounce", server["ID"])
    counts: dict[str, int] = {}
    for record in records:
        counts[record["Type"]] = counts.get(record["Type"], 0) + 1
    items: list[dict[str, object]] = [{"Name": "All", "Count": len(records), "Type": "All", "TypeCode": 0}]
    for name, count in counts.items():
        kind = BOUNCE_TYPES[name]
        items.append({"Type": name, "Name": kind.label, "Count": count, "TypeCode": kind.type_code})
    inactive = {r["Email"] for r in records if r["Inactive"]}
    return {"InactiveMails": len(inactive), "Bounces": items}


@router.get("/bounces/{bounce_id}/dump")
async def bounce_dump(bounce_id: int, server: ServerDep, sandbox: SandboxDep) -> dict[str, str]:
    """The raw source; empty, as Postmark answers when no dump is kept (``DumpAvailable`` false)."""
    return {"Body": _get(sandbox, server, bounce_id).get("Content") or ""}


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
