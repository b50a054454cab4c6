"""Domains API (account token, postmark-api.md §3.2), with DNS-backed verification."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tenantmail.sandbox.deps import AccountAuth, SandboxDep, json_object
from tenantmail.sandbox.domains import (
    brief,
    create_domain,
    delete_domain,
    dkim_view,
    edit_domain,
    get_domain,
    refreshed_domain,
    rotate_dkim,
    verify_spf,
    view,
)
from tenantmail.sandbox.paging import page
from tenantmail.sandbox.state import Document

router = APIRouter(dependencies=[AccountAuth])


@router.post("/domains")
async def post_domain(request: Request, sandbox: SandboxDep) -> Document:
    return view(create_domain(sandbox, await json_object(request)))


@router.get("/domains")
async def list_domains(request: Request, sandbox: SandboxDep) -> dict[str, object]:
    total, items = page(request, sandbox.state.list("domain"), query_error=511)
    return {"TotalCount": total, "Domains": [brief(d) for d in items]}


@router.get("/domains/{domain_id}")
async def read_domain(domain_id: int, sandbox: SandboxDep) -> Document:
    return view(await refreshed_domain(sandbox, get_domain(sandbox, domain_id)))


@router.put("/domains/{domain_id}")
async def put_domain(domain_id: int, request: Request, sandbox: SandboxDep) -> Document:
    domain = edit_domain(sandbox, get_domain(sandbox, domain_id), await json_object(request))
    return view(await refreshed_domain(sandbox, domain))


@router.delete("/domains/{domain_id}")
async def remove_domain(domain_id: int, sandbox: SandboxDep) -> dict[str, object]:
    domain = get_domain(sandbox, domain_id)
    delete_domain(sandbox, domain)
    return {"ErrorCode": 0, "Message": f"Domain {domain['Name']} removed."}


# Docs and SDK write verifyDkim / verifyReturnPath, the old swagger lower case: the app lower-cases
# these paths before routing (see app.py), so both spellings reach these handlers.
@router.put("/domains/{domain_id}/verifydkim")
@router.put("/domains/{domain_id}/verifyreturnpath")
async def verify_domain(domain_id: int, sandbox: SandboxDep) -> Document:
    return view(await refreshed_domain(sandbox, get_domain(sandbox, domain_id)))


@router.post("/domains/{domain_id}/verifyspf")
async def verify_domain_spf(domain_id: int, sandbox: SandboxDep) -> dict[str, object]:
    return await verify_spf(sandbox, get_domain(sandbox, domain_id))


@router.post("/domains/{domain_id}/rotatedkim")
async def rotate_domain_dkim(domain_id: int, sandbox: SandboxDep) -> Document:
    domain = await refreshed_domain(sandbox, get_domain(sandbox, domain_id))
    return dkim_view(rotate_dkim(sandbox, domain))
