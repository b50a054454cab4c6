"""The emulator's own control API under ``/_sandbox`` (account token; not part of Postmark).

Tests and operators use it to inject faults, steer message outcomes, flip switches and look
inside. It is never itself faulted and does not require the JSON headers (curl-friendly).
Field names are snake_case to make clear this is not Postmark's API.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from tenantmail.sandbox.config import RUNTIME_SETTINGS
from tenantmail.sandbox.deps import AccountAuth, SandboxDep, json_body, json_object
from tenantmail.sandbox.errors import ApiError, not_found
from tenantmail.sandbox.faults import CONTROL_PREFIX, FaultRule
from tenantmail.sandbox.lifecycle import apply_outcome, tracked
from tenantmail.sandbox.outcomes import Outcome, RecipientRule, bounce_type_for
from tenantmail.sandbox.servers import create_server, delete_server, get_server
from tenantmail.sandbox.signatures import get_signature
from tenantmail.sandbox.state import Document

router = APIRouter(prefix=CONTROL_PREFIX, dependencies=[AccountAuth])


def _invalid(exc: Exception) -> ApiError:
    return ApiError(403, f"Invalid control request: {exc}", http_status=400)


def _as_list(body: Any) -> list[dict[str, Any]]:
    return body if isinstance(body, list) else [body]


@router.get("/faults")
async def list_faults(sandbox: SandboxDep) -> list[dict[str, Any]]:
    return sandbox.faults.snapshot()


@router.post("/faults")
async def add_faults(request: Request, sandbox: SandboxDep) -> list[dict[str, Any]]:
    """One fault object or a list of them (see docs/sandbox.md for the fields)."""
    try:
        rules = [FaultRule.from_json(item) for item in _as_list(await json_body(request))]
    except (TypeError, ValueError) as exc:
        raise _invalid(exc) from exc
    for rule in rules:
        sandbox.faults.add(rule)
    return sandbox.faults.snapshot()


@router.delete("/faults")
async def clear_faults(sandbox: SandboxDep) -> list[dict[str, Any]]:
    sandbox.faults.clear()
    return []


@router.get("/settings")
async def read_settings(sandbox: SandboxDep) -> dict[str, Any]:
    return sandbox.config.settings_json()


@router.put("/settings")
async def put_settings(request: Request, sandbox: SandboxDep) -> dict[str, Any]:
    body = await json_object(request)
    unknown = set(body) - set(RUNTIME_SETTINGS)
    if unknown:
        raise _invalid(ValueError(f"unknown settings {sorted(unknown)}"))
    for name, value in body.items():
        setattr(sandbox.config, name, type(getattr(sandbox.config, name))(value))
    return sandbox.config.settings_json()


@router.get("/recipient-rules")
async def list_rules(sandbox: SandboxDep) -> list[dict[str, str]]:
    return [rule.to_json() for rule in sandbox.config.recipient_rules]


@router.post("/recipient-rules")
async def add_rules(request: Request, sandbox: SandboxDep) -> list[dict[str, str]]:
    """Rules added here are consulted first (newest wins over configured ones)."""
    try:
        rules = [RecipientRule.from_json(item) for item in _as_list(await json_body(request))]
    except (KeyError, TypeError, ValueError) as exc:
        raise _invalid(exc) from exc
    sandbox.config.recipient_rules[:0] = rules
    return [rule.to_json() for rule in sandbox.config.recipient_rules]


@router.delete("/recipient-rules")
async def clear_rules(sandbox: SandboxDep) -> list[dict[str, str]]:
    sandbox.config.recipient_rules.clear()
    return []


@router.post("/servers")
async def create_server_directly(request: Request, sandbox: SandboxDep) -> Document:
    """Create a server as if someone did it in Postmark's UI; ``ApiToken`` may fix its token."""
    body = await json_object(request)
    return create_server(sandbox, body, token=body.get("ApiToken"))


@router.delete("/servers/{server_id}")
async def delete_server_behind_back(server_id: int, sandbox: SandboxDep) -> dict[str, object]:
    """Delete even when server deletion is switched off for the Postmark API."""
    return {"ErrorCode": 0, "Message": delete_server(sandbox, get_server(sandbox, server_id))}


@router.get("/servers/{server_id}/messages")
async def server_messages(server_id: int, sandbox: SandboxDep) -> list[Document]:
    get_server(sandbox, server_id)
    return sandbox.state.list("message", server_id)


@router.post("/messages/{message_id}/events")
async def message_event(message_id: str, request: Request, sandbox: SandboxDep) -> Document:
    """Make a recipient of a sent message bounce, complain, open or click now."""
    message = sandbox.state.get("message", message_id)
    if message is None:
        raise not_found(701, "Message")
    body = await json_object(request)
    try:
        outcome = Outcome(body["outcome"])
        bounce_type = bounce_type_for(outcome, body.get("bounce_type"))
        recipient = str(body.get("recipient") or message["Recipients"][0])
    except (KeyError, ValueError) as exc:
        raise _invalid(exc) from exc
    if not tracked(message, outcome):
        raise _invalid(ValueError(f"{outcome.value} needs tracking enabled on the message "
                                  "(TrackOpens with an HTML body, or TrackLinks)"))
    apply_outcome(sandbox, message, recipient, outcome, bounce_type)
    return sandbox.state.get("message", message_id) or message


@router.post("/senders/{signature_id}/confirm")
async def confirm_signature(signature_id: int, sandbox: SandboxDep) -> Document:
    """Simulate the signer clicking the confirmation link Postmark e-mails."""
    signature = get_signature(sandbox, signature_id)
    signature["LinkConfirmed"] = True
    return sandbox.state.put("signature", signature_id, signature)


@router.get("/webhook-attempts")
async def webhook_attempts(request: Request, sandbox: SandboxDep) -> list[dict[str, Any]]:
    """Every webhook post tried, oldest first; filter with ``server_id`` / ``record_type``."""
    query = request.query_params
    return [a for a in sandbox.dispatcher.attempts
            if query.get("server_id", str(a["server_id"])) == str(a["server_id"])
            and query.get("record_type", a["record_type"]) == a["record_type"]]


@router.get("/deliveries")
async def deliveries(sandbox: SandboxDep) -> dict[str, int]:
    return {"pending": sandbox.dispatcher.pending, "attempts": len(sandbox.dispatcher.attempts)}
