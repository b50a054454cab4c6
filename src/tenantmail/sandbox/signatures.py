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
from tenantmail.sandbox.errors import ApiError, not_found
from tenantmail.sandbox.state import Document
from tenantmail.sandbox.verification import (
    RETURN_PATH_CNAME_VALUE,
    new_dkim_pending,
    refresh_domain_async,
)

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
BRIEF_DOMAIN = ("ID", "Name", "SPFVerified", "DKIMVerified", "WeakDKIM", "ReturnPathDomainVerified")


def new_domain(sandbox: Sandbox, name: str, return_path_domain: str) -> Document:
    domain_id = sandbox.state.next_id("domain")
    domain = {
        "ID": domain_id, "Name": name, "SPFVerified": False, "SPFHost": name,
        "SPFTextValue": "v=spf1 a mx include:spf.mtasv.net ~all", "DKIMVerified": False,
        "WeakDKIM": False, "DKIMHost": "", "DKIMTextValue": "", **new_dkim_pending(name),
        "DKIMRevokedHost": "", "DKIMRevokedTextValue": "", "SafeToRemoveRevokedKeyFromDNS": False,
        "DKIMUpdateStatus": "Pending", "ReturnPathDomain": return_path_domain,
        "ReturnPathDomainVerified": False, "ReturnPathDomainCNAMEValue": RETURN_PATH_CNAME_VALUE,
    }
    return sandbox.state.put("domain", domain_id, domain)


def domain_named(sandbox: Sandbox, name: str) -> Document | None:
    return next((d for d in sandbox.state.list("domain") if d["Name"] == name.lower()), None)


def get_domain(sandbox: Sandbox, domain_id: int) -> Document:
    domain = sandbox.state.get("domain", domain_id)
    if domain is None:
        raise not_found(510, "Domain")
    return domain


async def refreshed_domain(sandbox: Sandbox, domain: Document) -> Document:
    """Postmark's background DNS check, run now (on every read and verify call)."""
    if await refresh_domain_async(domain, sandbox.dns):
        sandbox.state.put("domain", domain["ID"], domain)
    return domain


def _check_return_path(value: object, domain: str) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or not value.lower().endswith("." + domain):
        raise ApiError(522, f"ReturnPathDomain must be a subdomain of {domain}.")
    return value.lower()


def create_signature(sandbox: Sandbox, body: dict[str, Any]) -> Document:
    email, name = body.get("FromEmail"), body.get("Name")
    if not email or not name:
        raise ApiError(520, "The 'Name' and 'FromEmail' fields are required.")
    if not isinstance(email, str) or not is_address(email):
        raise ApiError(522, f"Invalid 'FromEmail' value: '{email}'.")
    if len(body.get("ConfirmationPersonalNote") or "") > 400:
        raise ApiError(521, "ConfirmationPersonalNote must be 400 characters or fewer.")
    domain_name = domain_of(email)
    if domain_name in PUBLIC_DOMAINS:
        raise ApiError(503, f"Public domains like {domain_name} are not allowed.")
    if any(s["EmailAddress"].lower() == email.lower() for s in sandbox.state.list("signature")):
        raise ApiError(504, f"This signature already exists: '{email}'.")
    return_path = _check_return_path(body.get("ReturnPathDomain"), domain_name)
    domain = domain_named(sandbox, domain_name) or new_domain(sandbox, domain_name, return_path)
    if return_path and domain["ReturnPathDomain"] != return_path:
        domain.update(ReturnPathDomain=return_path, ReturnPathDomainVerified=False)
        sandbox.state.put("domain", domain["ID"], domain)
    signature_id = sandbox.state.next_id("signature")
    signature = {
        "ID": signature_id, "Domain": domain_name, "EmailAddress": email, "Name": name,
        "ReplyToEmailAddress": body.get("ReplyToEmail") or "", "LinkConfirmed": False,
        "ConfirmationPersonalNote": body.get("ConfirmationPersonalNote") or "",
    }
    return sandbox.state.put("signature", signature_id, signature)


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
    """Drop the signature, and its domain once no signature uses it any more."""
    sandbox.state.delete("signature", signature["ID"])
    if not any(s["Domain"] == signature["Domain"] for s in sandbox.state.list("signature")):
        domain = domain_named(sandbox, signature["Domain"])
        if domain is not None:
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
