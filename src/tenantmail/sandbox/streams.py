"""Message streams, minimal: every server has exactly the default ``outbound`` and ``inbound``."""

from __future__ import annotations

from fastapi import APIRouter

from tenantmail.sandbox.deps import ServerDep
from tenantmail.sandbox.errors import ApiError
from tenantmail.sandbox.state import Document

STREAM_TYPES = {"outbound": ("Default Transactional Stream", "Transactional"),
                "inbound": ("Default Inbound Stream", "Inbound")}

router = APIRouter()


def require_stream(stream_id: str) -> str:
    if stream_id not in STREAM_TYPES:
        raise ApiError(1226, f"The message stream '{stream_id}' was not found.")
    return stream_id


def stream_view(server: Document, stream_id: str) -> Document:
    name, stream_type = STREAM_TYPES[stream_id]
    return {
        "ID": stream_id, "ServerID": server["ID"], "Name": name, "Description": None,
        "MessageStreamType": stream_type, "CreatedAt": None, "UpdatedAt": None,
        "ArchivedAt": None, "ExpectedPurgeDate": None,
        "SubscriptionManagementConfiguration": {"UnsubscribeHandlingType": "none"},
    }


@router.get("/message-streams")
async def list_streams(server: ServerDep) -> dict[str, object]:
    streams = [stream_view(server, s) for s in STREAM_TYPES]
    return {"MessageStreams": streams, "TotalCount": len(streams)}


@router.get("/message-streams/{stream_id}")
async def read_stream(stream_id: str, server: ServerDep) -> Document:
    return stream_view(server, require_stream(stream_id))
