"""Domains (account-level, postmark-api.md §3.2): DKIM and Return-Path state per domain.

A domain document exists for every domain that has a sender signature (created with its first
signature, ``Explicit: false``) or was added with ``POST /domains`` (``Explicit: true``). Sender
signatures share their domain's DNS state. An implicit domain goes away with its last signature;
an explicit one only with ``DELETE /domains/{id}``, which also deletes the signatures at it (it
is the whole domain that stops being authenticated). The internal ``Explicit`` flag is never
served.

DKIM rotation (``rotatedkim``): a new key becomes pending next to the current one; once its TXT
record is found, the old key moves to ``DKIMRevoked*`` and ``SafeToRemoveRevokedKeyFromDNS``
becomes true. Only one rotation at a time (505).
"""

from __future__ import annotations

import re
from typing import Any

from tenantmail.sandbox.context import Sandbox
from tenantmail.sandbox.errors import ApiError, not_found
from tenantmail.sandbox.state import Document
from tenantmail.sandbox.verification import (
    RETURN_PATH_CNAME_VALUE,
    new_dkim_pending,
    refresh_domain_async,
    spf_verified,
)

BRIEF_DOMAIN = ("ID", "Name", "SPFVerified", "DKIMVerified", "WeakDKIM", "ReturnPathDomainVerified")
DKIM_FIELDS = ("ID", "Name", "DKIMVerified", "WeakDKIM", "DKIMHost", "DKIMTextValue",
               "DKIMPendingHost", "DKIMPendingTextValue", "DKIMRevokedHost", "DKIMRevokedTextValue",
               "SafeToRemoveRevokedKeyFromDNS", "DKIMUpdateStatus")
SPF_TEXT_VALUE = "v=spf1 a mx include:spf.mtasv.net ~all"
MAX_NAME = 255
_DOMAIN_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_INTERNAL = ("Explicit",)


def new_domain(sandbox: Sandbox, name: str, return_path_domain: str, *, explicit: bool) -> Document:
    domain_id = sandbox.state.next_id("domain")
    domain = {
        "ID": domain_id, "Name": name, "SPFVerified": False, "SPFHost": name,
        "SPFTextValue": SPF_TEXT_VALUE, "DKIMVerified": False,
        "WeakDKIM": False, "DKIMHost": "", "DKIMTextValue": "", **new_dkim_pending(name),
        "DKIMRevokedHost": "", "DKIMRevokedTextValue": "", "SafeToRemoveRevokedKeyFromDNS": False,
        "DKIMUpdateStatus": "Pending", "ReturnPathDomain": return_path_domain,
        "ReturnPathDomainVerified": False, "ReturnPathDomainCNAMEValue": RETURN_PATH_CNAME_VALUE,
        "Explicit": explicit,
    }
    return sandbox.state.put("domain", domain_id, domain)


def view(domain: Document) -> Document:
    """The domain as Postmark serves it (without the emulator's own bookkeeping)."""
    return {k: v for k, v in domain.items() if k not in _INTERNAL}


def brief(domain: Document) -> Document:
    return {field: domain[field] for field in BRIEF_DOMAIN}


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


def check_return_path(value: object, domain: str, *, error_code: int) -> str:
    """'' when absent; else it must be a subdomain of ``domain`` (``error_code`` otherwise)."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or not value.lower().endswith("." + domain):
        raise ApiError(error_code, f"ReturnPathDomain must be a subdomain of {domain}.")
    return value.lower()


def create_domain(sandbox: Sandbox, body: dict[str, Any]) -> Document:
    name = body.get("Name")
    if name in (None, ""):
        raise ApiError(514, "The 'Name' field is required.")
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise ApiError(515, f"The 'Name' field must be at most {MAX_NAME} characters.")
    name = name.strip().lower()
    if not _DOMAIN_NAME.match(name):
        raise ApiError(516, f"Invalid domain name: '{name}'.")
    if domain_named(sandbox, name) is not None:
        raise ApiError(512, f"This domain already exists: '{name}'.")
    return_path = check_return_path(body.get("ReturnPathDomain"), name, error_code=511)
    return new_domain(sandbox, name, return_path, explicit=True)


def edit_domain(sandbox: Sandbox, domain: Document, body: dict[str, Any]) -> Document:
    """``ReturnPathDomain`` is the only editable field; a new one must be verified again."""
    if "ReturnPathDomain" not in body:
        raise ApiError(511, "Invalid domain fields: 'ReturnPathDomain' is the only editable field.")
    return_path = check_return_path(body["ReturnPathDomain"], domain["Name"], error_code=511)
    if return_path != domain["ReturnPathDomain"]:
        domain.update(ReturnPathDomain=return_path, ReturnPathDomainVerified=False)
    return sandbox.state.put("domain", domain["ID"], domain)


def delete_domain(sandbox: Sandbox, domain: Document) -> None:
    """The domain and every sender signature at it."""
    for signature in sandbox.state.list("signature"):
        if signature["Domain"] == domain["Name"]:
            sandbox.state.delete("signature", signature["ID"])
    sandbox.state.delete("domain", domain["ID"])


def rotate_dkim(sandbox: Sandbox, domain: Document) -> Document:
    """A new pending key beside the current one (505 while a rotation or first key is pending)."""
    if domain["DKIMPendingHost"]:
        raise ApiError(505, "This DKIM is already scheduled to be renewed.")
    pending = new_dkim_pending(domain["Name"], avoid=domain["DKIMHost"])
    domain.update(**pending, DKIMUpdateStatus="Pending", SafeToRemoveRevokedKeyFromDNS=False)
    return sandbox.state.put("domain", domain["ID"], domain)


async def verify_spf(sandbox: Sandbox, domain: Document) -> dict[str, Any]:
    """The deprecated SPF check, against the TXT records at the domain name."""
    domain["SPFVerified"] = await spf_verified(domain["Name"], sandbox.dns)
    sandbox.state.put("domain", domain["ID"], domain)
    return {"SPFHost": domain["SPFHost"], "SPFVerified": domain["SPFVerified"],
            "SPFTextValue": domain["SPFTextValue"]}


def dkim_view(domain: Document) -> Document:
    return {field: domain[field] for field in DKIM_FIELDS}
