"""Email API: ``POST /email`` and ``POST /email/batch`` (server token, postmark-api.md §4)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from tenantmail.sandbox.deps import SandboxDep, SendingServerDep, json_body
from tenantmail.sandbox.errors import ApiError
from tenantmail.sandbox.sending import accept_message
from tenantmail.sandbox.validation import MAX_BATCH

router = APIRouter()


@router.post("/email")
async def send_email(request: Request, server: SendingServerDep, sandbox: SandboxDep) -> dict[str, Any]:
    return accept_message(sandbox, server, await json_body(request))


@router.post("/email/batch")
async def send_batch(request: Request, server: SendingServerDep,
                     sandbox: SandboxDep) -> list[dict[str, Any]]:
    """HTTP 200 with one result per message, failures included; only request-level errors fail."""
    messages = await json_body(request)
    if not isinstance(messages, list):
        raise ApiError(403, "Invalid request fields: the batch body must be a JSON array.")
    if len(messages) > MAX_BATCH:
        raise ApiError(410, f"You may only send up to {MAX_BATCH} messages in a batch.")
    results = []
    for raw in messages:
        try:
            results.append(accept_message(sandbox, server, raw))
        except ApiError as exc:
            results.append(exc.body())
    return results
