"""Messages API, outbound search and details (server token, postmark-api.md §9).

Search is what a client uses to reconcile an ambiguous send: ``metadata_<key>=<value>`` finds the
message carrying its own send id. Newest first, like Postmark.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from tenantmail.sandbox.deps import SandboxDep, ServerDep
from tenantmail.sandbox.errors import ApiError, not_found
from tenantmail.sandbox.paging import MAX_WINDOW, page
from tenantmail.sandbox.state import Document

router = APIRouter()
DETAIL_ONLY = ("TextBody", "HtmlBody", "MessageEvents", "ServerID", "ReplyTo", "Headers")


def _summary(message: Document) -> Document:
    return {k: v for k, v in message.items() if k not in DETAIL_ONLY}


def _matches(message: Document, query: dict[str, str]) -> bool:
    if message["MessageStream"] != query.get("messagestream", "outbound"):
        return False
    recipient = query.get("recipient", "").lower()
    if recipient and recipient not in (r.lower() for r in message["Recipients"]):
        return False
    if query.get("fromemail") and query["fromemail"].lower() not in message["From"].lower():
        return False
    if query.get("tag") and query["tag"] != message["Tag"]:
        return False
    if query.get("subject") and query["subject"] not in message["Subject"]:
        return False
    metadata = {k.removeprefix("metadata_"): v for k, v in query.items() if k.startswith("metadata_")}
    return all(message["Metadata"].get(k) == v for k, v in metadata.items())


@router.get("/messages/outbound")
async def search_outbound(request: Request, server: ServerDep, sandbox: SandboxDep) -> dict[str, object]:
    query = dict(request.query_params)
    if sum(k.startswith("metadata_") for k in query) > 1:
        raise ApiError(700, "Only one metadata filter is allowed per query.")
    hits = [m for m in reversed(sandbox.state.list("message", server["ID"])) if _matches(m, query)]
    total, items = page(request, hits, query_error=700, window=MAX_WINDOW)
    return {"TotalCount": total, "Messages": [_summary(m) for m in items]}


@router.get("/messages/outbound/{message_id}/details")
async def message_details(message_id: str, server: ServerDep, sandbox: SandboxDep) -> Document:
    message = sandbox.state.get("message", message_id)
    if message is None or message["ServerID"] != server["ID"]:
        raise not_found(701, "Message")
    details = {k: v for k, v in message.items() if k not in ("ServerID", "ReplyTo", "Headers")}
    return {**details, "Body": ""}
