"""Message streams, read-only: every server has the default ``outbound`` and ``inbound`` streams.

Each stream is a document created with its server (``CreatedAt`` = the server's creation time),
so reads answer the same object every time. Servers kept from an older state file, which have no
stream documents yet, get them on first read. Transactional and inbound streams answer
``UnsubscribeHandlingType: "None"``, as Postmark does (only broadcast streams manage unsubscribes).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from tenantmail.sandbox.clock import now_iso
from tenantmail.sandbox.context import Sandbox
from tenantmail.sandbox.deps import SandboxDep, ServerDep
from tenantmail.sandbox.errors import ApiError
from tenantmail.sandbox.state import Document

STREAM_TYPES = {"outbound": ("Default Transactional Stream", "Transactional"),
                "inbound": ("Default Inbound Stream", "Inbound")}
#: ``MessageStreamType`` query values → the stream types they select (``All`` = every type).
TYPE_FILTERS = {"all": None, "transactional": "Transactional", "inbound": "Inbound",
                "broadcasts": "Broadcasts"}

router = APIRouter()


def require_stream(stream_id: str) -> str:
    if stream_id not in STREAM_TYPES:
        raise ApiError(1226, f"The message stream '{stream_id}' was not found.")
    return stream_id


def create_default_streams(sandbox: Sandbox, server: Document) -> list[Document]:
    """The server's default streams, stored (called when the server is created)."""
    created = now_iso()
    streams = []
    for stream_id, (name, stream_type) in STREAM_TYPES.items():
        stream = {
            "ID": stream_id, "ServerID": server["ID"], "Name": name, "Description": None,
            "MessageStreamType": stream_type, "CreatedAt": created, "UpdatedAt": None,
            "ArchivedAt": None, "ExpectedPurgeDate": None,
            "SubscriptionManagementConfiguration": {"UnsubscribeHandlingType": "None"},
        }
        streams.append(sandbox.state.put("stream", f"{server['ID']}:{stream_id}", stream,
                                         scope=server["ID"]))
    return streams


def server_streams(sandbox: Sandbox, server: Document) -> list[Document]:
    return sandbox.state.list("stream", server["ID"]) or create_default_streams(sandbox, server)


@router.get("/message-streams")
async def list_streams(request: Request, server: ServerDep, sandbox: SandboxDep) -> dict[str, object]:
    wanted = request.query_params.get("MessageStreamType", "All").lower()
    if wanted not in TYPE_FILTERS:
        raise ApiError(1221, f"Invalid MessageStreamType: '{wanted}'.")
    streams = [s for s in server_streams(sandbox, server)
               if TYPE_FILTERS[wanted] in (None, s["MessageStreamType"])]
    return {"MessageStreams": streams, "TotalCount": len(streams)}


@router.get("/message-streams/{stream_id}")
async def read_stream(stream_id: str, server: ServerDep, sandbox: SandboxDep) -> Document:
    require_stream(stream_id)
    return next(s for s in server_streams(sandbox, server) if s["ID"] == stream_id)
