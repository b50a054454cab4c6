"""Request dependencies: the JSON-header rule and the two token kinds (postmark-api.md §1)."""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any

from fastapi import Depends, Request

from tenantmail.sandbox.context import Sandbox
from tenantmail.sandbox.errors import ApiError
from tenantmail.sandbox.state import Document

ACCOUNT_HEADER = "X-Postmark-Account-Token"
SERVER_HEADER = "X-Postmark-Server-Token"
TEST_TOKEN = "POSTMARK_API_TEST"


def get_sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]


async def require_json_headers(request: Request) -> None:
    """ErrorCode 409 unless ``Accept`` (and ``Content-Type`` when a body is sent) is JSON."""
    accept = request.headers.get("accept", "")
    has_body = bool(await request.body())
    content_type = request.headers.get("content-type", "")
    if "application/json" not in accept.lower() or (
        has_body and "application/json" not in content_type.lower()
    ):
        raise ApiError(409, "JSON required. Set the 'Accept' and 'Content-Type' headers to "
                            "'application/json'.")


def require_account(request: Request, sandbox: SandboxDep) -> None:
    token = request.headers.get(ACCOUNT_HEADER, "")
    if not hmac.compare_digest(token.encode(), sandbox.account_token.encode()):
        raise ApiError(10, "Request does not contain a valid Account token.", http_status=401)


def find_server_by_token(sandbox: Sandbox, token: str) -> Document | None:
    for server in sandbox.state.list("server"):
        if token and token in server["ApiTokens"]:
            return server
    return None


def _server_or_test(request: Request, sandbox: SandboxDep) -> Document | None:
    token = request.headers.get(SERVER_HEADER, "")
    if token == TEST_TOKEN:
        return None
    server = find_server_by_token(sandbox, token)
    if server is None:
        raise ApiError(10, "Request does not contain a valid Server token.", http_status=401)
    return server


def require_server(server: Annotated[Document | None, Depends(_server_or_test)]) -> Document:
    if server is None:  # the test token only works for sending
        raise ApiError(10, "Request does not contain a valid Server token.", http_status=401)
    return server


AccountAuth = Depends(require_account)
ServerDep = Annotated[Document, Depends(require_server)]
SendingServerDep = Annotated[Document | None, Depends(_server_or_test)]  #: None: the test token


async def json_body(request: Request) -> Any:
    """The parsed body; ErrorCode 402 for malformed JSON, as Postmark answers."""
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(402, "Received invalid JSON input.") from exc


async def json_object(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(403, "Invalid request fields: a JSON object is required.")
    return body
