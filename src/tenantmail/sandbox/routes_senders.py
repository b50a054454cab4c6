"""Sender Signatures API (account token, postmark-api.md §3.1)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tenantmail.sandbox.context import Sandbox
from tenantmail.sandbox.deps import AccountAuth, SandboxDep, json_object
from tenantmail.sandbox.domains import domain_named, refreshed_domain, rotate_dkim, verify_spf
from tenantmail.sandbox.errors import not_found
from tenantmail.sandbox.paging import page
from tenantmail.sandbox.signatures import (
    brief_view,
    create_signature,
    delete_signature,
    edit_signature,
    full_view,
    get_signature,
    resend_confirmation,
)
from tenantmail.sandbox.state import Document

router = APIRouter(dependencies=[AccountAuth])


async def _refreshed_view(sandbox: Sandbox, signature: Document) -> Document:
    """The signature after its domain's DNS was re-checked (Postmark checks in the background)."""
    domain = domain_named(sandbox, signature["Domain"])
    if domain is not None:
        await refreshed_domain(sandbox, domain)
    return full_view(sandbox, signature)


@router.post("/senders")
async def post_signature(request: Request, sandbox: SandboxDep) -> Document:
    return full_view(sandbox, create_signature(sandbox, await json_object(request)))


@router.get("/senders")
async def list_signatures(request: Request, sandbox: SandboxDep) -> dict[str, object]:
    total, items = page(request, sandbox.state.list("signature"), query_error=500)
    return {"TotalCount": total, "SenderSignatures": [brief_view(sandbox, s) for s in items]}


@router.get("/senders/{signature_id}")
async def read_signature(signature_id: int, sandbox: SandboxDep) -> Document:
    return await _refreshed_view(sandbox, get_signature(sandbox, signature_id))


@router.put("/senders/{signature_id}")
async def put_signature(signature_id: int, request: Request, sandbox: SandboxDep) -> Document:
    signature = get_signature(sandbox, signature_id)
    return full_view(sandbox, edit_signature(sandbox, signature, await json_object(request)))


@router.delete("/senders/{signature_id}")
async def remove_signature(signature_id: int, sandbox: SandboxDep) -> dict[str, object]:
    signature = get_signature(sandbox, signature_id)
    delete_signature(sandbox, signature)
    return {"ErrorCode": 0, "Message": f"Signature {signature['EmailAddress']} removed."}


@router.post("/senders/{signature_id}/resend")
async def resend(signature_id: int, sandbox: SandboxDep) -> dict[str, object]:
    return {"ErrorCode": 0, "Message": resend_confirmation(sandbox, get_signature(sandbox, signature_id))}


@router.post("/senders/{signature_id}/verifyspf")
async def verify_signature_spf(signature_id: int, sandbox: SandboxDep) -> Document:
    """Deprecated by Postmark; checks the SPF TXT of the signature's domain."""
    signature = get_signature(sandbox, signature_id)
    domain = domain_named(sandbox, signature["Domain"])
    if domain is None:
        raise not_found(510, "Domain")
    await verify_spf(sandbox, domain)
    return full_view(sandbox, signature)


@router.post("/senders/{signature_id}/requestnewdkim")
async def request_new_dkim(signature_id: int, sandbox: SandboxDep) -> dict[str, object]:
    """Deprecated by Postmark in favour of the domain's ``rotatedkim``, which it performs."""
    signature = get_signature(sandbox, signature_id)
    domain = domain_named(sandbox, signature["Domain"])
    if domain is None:
        raise not_found(510, "Domain")
    rotate_dkim(sandbox, domain)
    return {"ErrorCode": 0, "Message": f"New DKIM key requested for {signature['Domain']}."}
