"""Per-stream suppression lists; every change posts a SubscriptionChange (postmark-api.md §8.2)."""

from __future__ import annotations

from tenantmail.sandbox import payloads
from tenantmail.sandbox.clock import now_iso
from tenantmail.sandbox.context import Sandbox
from tenantmail.sandbox.state import Document


def _key(server_id: int, stream: str, email: str) -> str:
    return f"{server_id}:{stream}:{email.lower()}"


def suppressed(sandbox: Sandbox, server_id: int, stream: str, email: str) -> Document | None:
    return sandbox.state.get("suppression", _key(server_id, stream, email))


def suppress(
    sandbox: Sandbox, server_id: int, stream: str, email: str, *, reason: str, origin: str,
    message: Document | None = None,
) -> bool:
    """Add the address (idempotent); True when it was not suppressed before."""
    if suppressed(sandbox, server_id, stream, email):
        return False
    entry = {"EmailAddress": email.lower(), "SuppressionReason": reason, "Origin": origin,
             "CreatedAt": now_iso(), "MessageStream": stream}
    sandbox.state.put("suppression", _key(server_id, stream, email), entry, scope=server_id)
    sandbox.dispatcher.publish(server_id, payloads.subscription_change(server_id, entry, True, message))
    return True


def unsuppress(sandbox: Sandbox, server_id: int, stream: str, email: str) -> str:
    """``Deleted`` or ``Failed``: spam complaints cannot be lifted through the API."""
    entry = suppressed(sandbox, server_id, stream, email)
    if entry is None:
        return "Deleted"
    if entry["SuppressionReason"] == "SpamComplaint":
        return "Failed"
    sandbox.state.delete("suppression", _key(server_id, stream, email))
    _reactivate_bounces(sandbox, server_id, stream, email)
    sandbox.dispatcher.publish(server_id, payloads.subscription_change(server_id, entry, False, None))
    return "Deleted"


def _reactivate_bounces(sandbox: Sandbox, server_id: int, stream: str, email: str) -> None:
    for record in sandbox.state.list("bounce", server_id):
        if record["Email"] == email.lower() and record["MessageStream"] == stream and record["Inactive"]:
            record["Inactive"] = False
            sandbox.state.put("bounce", record["ID"], record, scope=server_id)


def dump(sandbox: Sandbox, server_id: int, stream: str) -> list[Document]:
    return [
        {k: e[k] for k in ("EmailAddress", "SuppressionReason", "Origin", "CreatedAt")}
        for e in sandbox.state.list("suppression", server_id) if e["MessageStream"] == stream
    ]
