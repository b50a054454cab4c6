"""Sender signatures and the domains behind them (account-level, postmark-api.md §3).

DKIM and Return-Path state belongs to the *domain*: every signature at ``acme.example`` shares one
domain document, created with the first such signature (as Postmark does) and removed with the last.
A signature's full view is its own fields plus its domain's DNS fields.

``Confirmed`` (decision, see docs/sandbox.md): a signature counts as confirmed when its domain is
DKIM-verified (Postmark lets a verified domain send from any address at it) or when a test
"clicked the confirmation link" through the control API. Nothing confirms by time alone.
"""

from __future__ import annotations

from typing import Any

from tenantmail.sandbox.addresses import domain_of, is_address
from tenantmail.sandbox.context import Sandbox
from tenantmail.sandbox.domains import check_return_path, domain_named, new_domain
from tenantmail.sandbox.errors import ApiError, not_found
from tenantmail.sandbox.state import Document

PUBLIC_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com",
    "aol.com", "icloud.com", "me.com", "msn.com", "gmx.com", "mail.com", "proton.me",
})
BRIEF_SIGNATURE = ("ID", "Domain", "EmailAddress", "ReplyToEmailAddress", "Name", "Confirmed")
DOMAIN_DNS_FIELDS = (
    "SPFVerified", "SPFHost", "SPFTextValue", "DKIMVerified", "WeakDKIM", "DKIMHost",
    "DKIMTextValue", "DKIMPendingHost", "DKIMPendingTextValue", "DKIMRevokedHost",
    "DKIMRevokedTextValue", "SafeToRemoveRevokedKeyFromDNS", "DKIMUpdateStatus",
    "ReturnPathDomain", "ReturnPathDomainVerified", "ReturnPathDomainCNAMEValue",
)
MAX_NOTE = 400


def _check_note(body: dict[str, Any]) -> str:
    note = body.get("ConfirmationPersonalNote") or ""
    if len(note) > MAX_NOTE:
        raise ApiError(521, f"ConfirmationPersonalNote must be {MAX_NOTE} characters or fewer.")
    return str(note)


def create_signature(sandbox: Sandbox, body: dict[str, Any]) -> Document:
    email, name = body.get("FromEmail"), body.get("Name")
    if not email or not name:
        raise ApiError(520, "The 'Name' and 'FromEmail' fields are required.")
    if not isinstance(email, str) or not is_address(email):
        raise ApiError(522, f"Invalid 'FromEmail' value: '{email}'.")
    note = _check_note(body)
    domain_name = domain_of(email)
    if domain_name in PUBLIC_DOMAINS:
        raise ApiError(503, f"Public domains like {domain_name} are not allowed.")
    if any(s["EmailAddress"].lower() == email.lower() for s in sandbox.state.list("signature")):
        raise ApiError(504, f"This signature already exists: '{email}'.")
    return_path = check_return_path(body.get("ReturnPathDomain"), domain_name, error_code=522)
    domain = domain_named(sandbox, domain_name) or new_domain(
        sandbox, domain_name, return_path, explicit=False)
    if return_path and domain["ReturnPathDomain"] != return_path:
        domain.update(ReturnPathDomain=return_path, ReturnPathDomainVerified=False)
        sandbox.state.put("domain", domain["ID"], domain)
    signature_id = sandbox.state.next_id("signature")
    signature = {
        "ID": signature_id, "Domain": domain_name, "EmailAddress": email, "Name": name,
        "ReplyToEmailAddress": body.get("ReplyToEmail") or "", "LinkConfirmed": False,
        "ConfirmationPersonalNote": note,
    }
    return sandbox.state.put("signature", signature_id, signature)


def edit_signature(sandbox: Sandbox, signature: Document, body: dict[str, Any]) -> Document:
    """``PUT /senders/{id}``: ``Name`` required; reply-to, Return-Path domain and note optional.
    A new Return-Path domain is the domain's (shared by its signatures) and must verify again."""
    name = body.get("Name")
    if not name or not isinstance(name, str):
        raise ApiError(520, "The 'Name' field is required.")
    reply_to = body.get("ReplyToEmail")
    if reply_to not in (None, "") and (not isinstance(reply_to, str) or not is_address(reply_to)):
        raise ApiError(522, f"Invalid 'ReplyToEmail' value: '{reply_to}'.")
    note = _check_note(body) if "ConfirmationPersonalNote" in body else None
    if "ReturnPathDomain" in body:
        return_path = check_return_path(body["ReturnPathDomain"], signature["Domain"], error_code=522)
        domain = domain_named(sandbox, signature["Domain"])
        if domain is not None and return_path != domain["ReturnPathDomain"]:
            domain.update(ReturnPathDomain=return_path, ReturnPathDomainVerified=False)
            sandbox.state.put("domain", domain["ID"], domain)
    signature["Name"] = name
    if reply_to is not None:
        signature["ReplyToEmailAddress"] = reply_to
    if note is not None:
        signature["ConfirmationPersonalNote"] = note
    return sandbox.state.put("signature", signature["ID"], signature)


def resend_confirmation(sandbox: Sandbox, signature: Document) -> str:
    """Postmark e-mails the link again (nothing leaves the emulator); 506 once confirmed."""
    if full_view(sandbox, signature)["Confirmed"]:
        raise ApiError(506, f"This signature has already been confirmed: '{signature['EmailAddress']}'.")
    return f"Confirmation email for Sender Signature {signature['EmailAddress']} was re-sent."


def get_signature(sandbox: Sandbox, signature_id: int) -> Document:
    signature = sandbox.state.get("signature", signature_id)
    if signature is None:
        raise not_found(501, "Sender signature")
    return signature


def full_view(sandbox: Sandbox, signature: Document) -> Document:
    domain = domain_named(sandbox, signature["Domain"]) or {}
    view = {k: v for k, v in signature.items() if k != "LinkConfirmed"}
    view.update({field: domain.get(field) for field in DOMAIN_DNS_FIELDS})
    view["Confirmed"] = bool(signature["LinkConfirmed"] or domain.get("DKIMVerified"))
    return view


def brief_view(sandbox: Sandbox, signature: Document) -> Document:
    full = full_view(sandbox, signature)
    return {field: full[field] for field in BRIEF_SIGNATURE}


def delete_signature(sandbox: Sandbox, signature: Document) -> None:
    """Drop the signature, and its domain once no signature uses it any more (unless the domain
    was added through the Domains API)."""
    sandbox.state.delete("signature", signature["ID"])
    if not any(s["Domain"] == signature["Domain"] for s in sandbox.state.list("signature")):
        domain = domain_named(sandbox, signature["Domain"])
        if domain is not None and not domain.get("Explicit"):
            sandbox.state.delete("domain", domain["ID"])


def sender_status(sandbox: Sandbox, address: str) -> str:
    """``"ok"``, ``"unconfirmed"`` (401) or ``"missing"`` (400) for a From address."""
    domain = domain_named(sandbox, domain_of(address))
    if domain is None:
        return "missing"
    if domain["DKIMVerified"]:
        return "ok"
    exact = [s for s in sandbox.state.list("signature")
             if s["EmailAddress"].lower() == address.lower()]
    if not exact:
        return "missing"
    return "ok" if any(s["LinkConfirmed"] for s in exact) else "unconfirmed"
