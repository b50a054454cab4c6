"""Servers API (account token) and its server-token twin ``GET/PUT /server`` (postmark-api.md §2)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tenantmail.sandbox.deps import AccountAuth, SandboxDep, ServerDep, json_object
from tenantmail.sandbox.errors import ApiError
from tenantmail.sandbox.paging import page
from tenantmail.sandbox.servers import create_server, delete_server, edit_server, get_server
from tenantmail.sandbox.state import Document

account = APIRouter(dependencies=[AccountAuth])
own = APIRouter()


@account.post("/servers")
async def post_server(request: Request, sandbox: SandboxDep) -> Document:
    return create_server(sandbox, await json_object(request))


@account.get("/servers")
async def list_servers(request: Request, sandbox: SandboxDep) -> dict[str, object]:
    name = request.query_params.get("name", "").lower()
    servers = [s for s in sandbox.state.list("server") if name in s["Name"].lower()]
    total, items = page(request, servers, query_error=600)
    return {"TotalCount": total, "Servers": items}


@account.get("/servers/{server_id}")
async def read_server(server_id: int, sandbox: SandboxDep) -> Document:
    return get_server(sandbox, server_id)


@account.put("/servers/{server_id}")
async def put_server(server_id: int, request: Request, sandbox: SandboxDep) -> Document:
    return edit_server(sandbox, get_server(sandbox, server_id), await json_object(request))


@account.delete("/servers/{server_id}")
async def remove_server(server_id: int, sandbox: SandboxDep) -> dict[str, object]:
    server = get_server(sandbox, server_id)
    if not sandbox.config.server_delete_enabled:
        raise ApiError(604, "You don't have delete access on this account.")
    return {"ErrorCode": 0, "Message": delete_server(sandbox, server)}


@own.get("/server")
async def read_own_server(server: ServerDep) -> Document:
    return server


@own.put("/server")
async def put_own_server(request: Request, server: ServerDep, sandbox: SandboxDep) -> Document:
    return edit_server(sandbox, server, await json_object(request))
