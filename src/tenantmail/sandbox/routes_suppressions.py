"""Suppressions API (server token, per stream, postmark-api.md §8.2)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from tenantmail.sandbox.addresses import is_address
from tenantmail.sandbox.deps import SandboxDep, ServerDep, json_object
from tenantmail.sandbox.errors import ApiError
from tenantmail.sandbox.streams import require_stream
from tenantmail.sandbox.suppressions import dump, suppress, unsuppress

router = APIRouter()
MAX_PER_CALL = 50


async def _addresses(request: Request) -> list[str]:
    items = (await json_object(request)).get("Suppressions")
    if not isinstance(items, list) or len(items) > MAX_PER_CALL:
        raise ApiError(300, f"'Suppressions' must be a list of at most {MAX_PER_CALL} entries.")
    return [str(item.get("EmailAddress", "")) if isinstance(item, dict) else "" for item in items]


def _item(email: str, status: str) -> dict[str, Any]:
    message = None if status != "Failed" else "Invalid email address or not allowed."
    return {"EmailAddress": email, "Status": status, "Message": message}


@router.get("/message-streams/{stream}/suppressions/dump")
async def dump_suppressions(stream: str, request: Request, server: ServerDep,
                            sandbox: SandboxDep) -> dict[str, object]:
    filters = {k: v for k, v in request.query_params.items()
               if k in ("SuppressionReason", "Origin", "EmailAddress")}
    entries = [e for e in dump(sandbox, server["ID"], require_stream(stream))
               if all(str(e[k]).lower() == v.lower() for k, v in filters.items())]
    return {"Suppressions": entries}


@router.post("/message-streams/{stream}/suppressions")
async def add_suppressions(stream: str, request: Request, server: ServerDep,
                           sandbox: SandboxDep) -> dict[str, object]:
    require_stream(stream)
    results = []
    for email in await _addresses(request):
        if not is_address(email):
            results.append(_item(email, "Failed"))
            continue
        suppress(sandbox, server["ID"], stream, email, reason="ManualSuppression", origin="Customer")
        results.append(_item(email, "Suppressed"))
    return {"Suppressions": results}


@router.post("/message-streams/{stream}/suppressions/delete")
async def delete_suppressions(stream: str, request: Request, server: ServerDep,
                              sandbox: SandboxDep) -> dict[str, object]:
    require_stream(stream)
    emails = await _addresses(request)
    return {"Suppressions": [_item(e, unsuppress(sandbox, server["ID"], stream, e)) for e in emails]}
