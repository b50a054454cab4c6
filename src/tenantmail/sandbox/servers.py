"""Server documents: creation, partial edit and deletion with Postmark's validation codes."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from tenantmail.sandbox.context import Sandbox
from tenantmail.sandbox.errors import ApiError, not_found
from tenantmail.sandbox.state import Document
from tenantmail.sandbox.streams import create_default_streams

COLORS = ("Purple", "Blue", "Turquoise", "Green", "Red", "Yellow", "Grey", "Orange")
DELIVERY_TYPES = ("Live", "Sandbox")
TRACK_LINKS = ("None", "HtmlAndText", "HtmlOnly", "TextOnly")
EDITABLE = {
    "Name": "", "Color": "Purple", "SmtpApiActivated": True, "RawEmailEnabled": False,
    "InboundHookUrl": None, "BounceHookUrl": None, "OpenHookUrl": None, "DeliveryHookUrl": None,
    "ClickHookUrl": None, "PostFirstOpenOnly": False, "InboundDomain": None,
    "InboundSpamThreshold": 0, "TrackOpens": False, "TrackLinks": "None",
    "IncludeBounceContentInHook": False, "EnableSmtpApiErrorHooks": False,
}


def get_server(sandbox: Sandbox, server_id: int | str) -> Document:
    server = sandbox.state.get("server", server_id)
    if server is None:
        raise not_found(601, "Server")
    return server


def _validated(sandbox: Sandbox, fields: dict[str, Any], server_id: int | None) -> dict[str, Any]:
    known = {k: v for k, v in fields.items() if k in EDITABLE}
    if "Name" in known or server_id is None:
        name = known.get("Name")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(608, "Server name is missing or invalid.")
        if any(s["Name"].lower() == name.lower() and s["ID"] != server_id
               for s in sandbox.state.list("server")):
            raise ApiError(603, f"This server name already exists: '{name}'.")
    if "Color" in known:
        color = next((c for c in COLORS if c.lower() == str(known["Color"]).lower()), None)
        if color is None:
            raise ApiError(607, f"Invalid server color: '{known['Color']}'.")
        known["Color"] = color
    threshold = known.get("InboundSpamThreshold", 0)
    if not isinstance(threshold, int) or threshold not in range(0, 31, 5):
        raise ApiError(611, "InboundSpamThreshold must be between 0 and 30 in steps of 5.")
    if known.get("TrackLinks", "None") not in TRACK_LINKS:
        raise ApiError(300, f"Invalid TrackLinks value: '{known['TrackLinks']}'.")
    return known


def create_server(sandbox: Sandbox, fields: dict[str, Any], token: str | None = None) -> Document:
    """A new server with its own token and the default ``outbound`` / ``inbound`` streams."""
    delivery_type = fields.get("DeliveryType", "Live")
    if delivery_type not in DELIVERY_TYPES:
        raise ApiError(613, f"Invalid DeliveryType: '{delivery_type}'.")
    known = _validated(sandbox, fields, None)
    server_id = sandbox.state.next_id("server")
    inbound_hash = uuid.uuid4().hex
    server = {
        "ID": server_id, **EDITABLE, **known,
        "ApiTokens": [token or str(uuid.UUID(bytes=secrets.token_bytes(16)))],
        "DeliveryType": delivery_type,
        "ServerLink": f"https://account.postmarkapp.com/servers/{server_id}/streams",
        "InboundAddress": f"{inbound_hash}@inbound.postmarkapp.com", "InboundHash": inbound_hash,
    }
    sandbox.state.put("server", server_id, server)
    create_default_streams(sandbox, server)
    return server


def edit_server(sandbox: Sandbox, server: Document, fields: dict[str, Any]) -> Document:
    """Partial update; ``DeliveryType`` is fixed at creation and silently kept."""
    if not any(key in EDITABLE for key in fields):
        raise ApiError(609, "No updated server data was provided.")
    server.update(_validated(sandbox, fields, server["ID"]))
    return sandbox.state.put("server", server["ID"], server)


def delete_server(sandbox: Sandbox, server: Document) -> str:
    """Remove the server and everything it owned; the message Postmark answers with."""
    sandbox.state.delete("server", server["ID"])
    sandbox.state.delete_scope(server["ID"])
    return f"Server {server['Name']} removed."
