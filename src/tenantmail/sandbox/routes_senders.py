"""Sender Signatures API and the Domains verify calls (account token, postmark-api.md §3)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tenantmail.sandbox.deps import AccountAuth, SandboxDep, json_object
from tenantmail.sandbox.paging import page
from tenantmail.sandbox.signatures import (
    BRIEF_DOMAIN,
    brief_view,
    create_signature,
    delete_signature,
    domain_named,
    full_view,
    get_domain,
    get_signature,
    refreshed_domain,
)
from tenantmail.sandbox.state import Document

router = APIRouter(dependencies=[AccountAuth])


@router.post("/senders")
async def post_signature(request: Request, sandbox: SandboxDep) -> Document:
    return full_view(sandbox, create_signature(sandbox, await json_object(request)))


@router.get("/senders")
async def list_signatures(request: Request, sandbox: SandboxDep) -> dict[str, object]:
    total, items = page(request, sandbox.state.list("signature"), query_error=500)
    return {"TotalCount": total, "SenderSignatures": [brief_view(sandbox, s) for s in items]}


@router.get("/senders/{signature_id}")
async def read_signature(signature_id: int, sandbox: SandboxDep) -> Document:
    signature = get_signature(sandbox, signature_id)
    domain = domain_named(sandbox, signature["Domain"])
    if domain is not None:
        await refreshed_domain(sandbox, domain)
    return full_view(sandbox, signature)


@router.delete("/senders/{signature_id}")
async def remove_signature(signature_id: int, sandbox: SandboxDep) -> dict[str, object]:
    signature = get_signature(sandbox, signature_id)
    delete_signature(sandbox, signature)
    return {"ErrorCode": 0, "Message": f"Signature {signature['EmailAddress']} removed."}


@router.get("/domains")
async def list_domains(request: Request, sandbox: SandboxDep) -> dict[str, object]:
    total, items = page(request, sandbox.state.list("domain"), query_error=511)
    return {"TotalCount": total, "Domains": [{k: d[k] for k in BRIEF_DOMAIN} for d in items]}


@router.get("/domains/{domain_id}")
async def read_domain(domain_id: int, sandbox: SandboxDep) -> Document:
    return await refreshed_domain(sandbox, get_domain(sandbox, domain_id))


# Docs and SDK write verifyDkim / verifyReturnPath, the old swagger lower case: the app lower-cases
# these paths before routing (see app.py), so both spellings reach these handlers.
@router.put("/domains/{domain_id}/verifydkim")
@router.put("/domains/{domain_id}/verifyreturnpath")
async def verify_domain(domain_id: int, sandbox: SandboxDep) -> Document:
    return await refreshed_domain(sandbox, get_domain(sandbox, domain_id))
