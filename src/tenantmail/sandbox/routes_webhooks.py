"""Webhooks API (server token, per message stream, postmark-api.md §6).

Not modelled: ``Verify`` test posts on create/edit (the field is accepted and ignored; every
webhook is treated as verified), ``/verify`` and ``/statistics``. Loopback URLs are allowed,
unlike Postmark's internal-range refusal (606), because the receivers under test live there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request

from tenantmail.sandbox.deps import SandboxDep, ServerDep, json_object
from tenantmail.sandbox.errors import ApiError, not_found
from tenantmail.sandbox.state import Document
from tenantmail.sandbox.streams import require_stream

router = APIRouter()
TRIGGER_OPTIONS: dict[str, dict[str, Any]] = {
    "Open": {"PostFirstOpenOnly": False}, "Click": {}, "Delivery": {},
    "Bounce": {"IncludeContent": False}, "SpamComplaint": {"IncludeContent": False},
    "SubscriptionChange": {},
}


def _triggers(given: object, current: dict[str, Any] | None) -> dict[str, Any]:
    """All six triggers, always: given values over current ones over 'disabled'."""
    given = given if isinstance(given, dict) else {}
    triggers = {}
    for name, options in TRIGGER_OPTIONS.items():
        base = {"Enabled": False, **options, **((current or {}).get(name) or {})}
        update = given.get(name) if isinstance(given.get(name), dict) else {}
        triggers[name] = {**base, **{k: v for k, v in update.items() if k in base}}
    return triggers


def _apply(webhook: Document, body: dict[str, Any]) -> Document:
    if "Url" in body:
        url = body["Url"]
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") \
                or not urlsplit(url).hostname:
            raise ApiError(606, f"Invalid webhook URL: '{url}'.")
        webhook["Url"] = url
    if "HttpAuth" in body:
        auth = body["HttpAuth"] or {}
        webhook["HttpAuth"] = {"Username": auth.get("Username", ""), "Password": auth.get("Password", "")}
    if "HttpHeaders" in body:
        headers = body["HttpHeaders"] or []
        webhook["HttpHeaders"] = [{"Name": h["Name"], "Value": h["Value"]} for h in headers]
    webhook["Triggers"] = _triggers(body.get("Triggers"), webhook.get("Triggers"))
    return webhook


def _get(sandbox: SandboxDep, server: Document, webhook_id: int) -> Document:
    webhook = sandbox.state.get("webhook", webhook_id)
    if webhook is None or webhook["ServerID"] != server["ID"]:
        raise not_found(12, "Webhook")
    return webhook


def _public(webhook: Document) -> Document:
    return {k: v for k, v in webhook.items() if k != "ServerID"}


@router.post("/webhooks")
async def post_webhook(request: Request, server: ServerDep, sandbox: SandboxDep) -> Document:
    body = await json_object(request)
    if "Url" not in body:
        raise ApiError(606, "A webhook 'Url' is required.")
    stream = require_stream(body.get("MessageStream") or "outbound")
    webhook_id = sandbox.state.next_id("webhook")
    webhook = _apply({"ID": webhook_id, "ServerID": server["ID"], "Url": "",
                      "MessageStream": stream, "HttpAuth": None, "HttpHeaders": []}, body)
    sandbox.state.put("webhook", webhook_id, webhook, scope=server["ID"])
    return _public(webhook)


@router.get("/webhooks")
async def list_webhooks(request: Request, server: ServerDep, sandbox: SandboxDep) -> dict[str, object]:
    stream = request.query_params.get("MessageStream")
    hooks = [w for w in sandbox.state.list("webhook", server["ID"])
             if stream is None or w["MessageStream"] == stream]
    return {"Webhooks": [_public(w) for w in hooks]}


@router.get("/webhooks/{webhook_id}")
async def read_webhook(webhook_id: int, server: ServerDep, sandbox: SandboxDep) -> Document:
    return _public(_get(sandbox, server, webhook_id))


@router.put("/webhooks/{webhook_id}")
async def put_webhook(webhook_id: int, request: Request, server: ServerDep,
                      sandbox: SandboxDep) -> Document:
    webhook = _apply(_get(sandbox, server, webhook_id), await json_object(request))
    sandbox.state.put("webhook", webhook_id, webhook, scope=server["ID"])
    return _public(webhook)


@router.delete("/webhooks/{webhook_id}")
async def remove_webhook(webhook_id: int, server: ServerDep, sandbox: SandboxDep) -> dict[str, object]:
    _get(sandbox, server, webhook_id)
    sandbox.state.delete("webhook", webhook_id)
    return {"ErrorCode": 0, "Message": f"Webhook {webhook_id} removed."}
