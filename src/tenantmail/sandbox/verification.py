"""Postmark's DNS checker, against the configured Route 53 endpoint.

A domain's DKIM key and Return-Path become verified only when the records are really present in
Route 53 (read with boto3 ``list_resource_record_sets`` from the hosted zone whose name is the
longest suffix of the record name). Postmark re-checks in the background; the emulator re-checks
whenever a signature or domain is read and on the verify calls, never on a timer alone.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from tenantmail.sandbox.state import Document

RETURN_PATH_CNAME_VALUE = "pm.mtasv.net"


def route53_client(endpoint_url: str) -> Any:
    """A boto3 Route 53 client with the dummy credentials a local endpoint accepts."""
    return boto3.client(
        "route53", endpoint_url=endpoint_url, region_name="us-east-1",
        aws_access_key_id="sandbox", aws_secret_access_key="sandbox",
    )


def new_dkim_pending(domain: str, avoid: str = "") -> dict[str, str]:
    """A pending DKIM key as Postmark issues it: timestamped ``pm`` selector, ``k=rsa; p=...``.

    The public key is random bytes shaped like a DER RSA-1024 key; nobody signs with it here.
    ``avoid`` is the current key's host: a rotation within the same second takes the next one.
    """
    moment = datetime.now(UTC)
    selector = moment.strftime("%Y%m%d%H%M%S") + "pm"
    if avoid.startswith(selector + "."):
        selector = (moment + timedelta(seconds=1)).strftime("%Y%m%d%H%M%S") + "pm"
    key = base64.b64encode(bytes.fromhex("30819f300d06092a864886f70d010101050003818d00") +
                           os.urandom(140)).decode()
    return {"DKIMPendingHost": f"{selector}._domainkey.{domain}",
            "DKIMPendingTextValue": f"k=rsa; p={key}"}


def _normalise(name: str) -> str:
    return name.rstrip(".").lower()


def _txt_value(raw: str) -> str:
    """Route 53 stores TXT as quoted strings, long values split in several: join them back."""
    parts = raw.split('" "')
    return "".join(part.strip('"') for part in parts)


class DnsChecker:
    """Reads records from Route 53; ``endpoint_url=None`` means no DNS: nothing ever verifies.

    One boto3 client for the emulator's life (clients are thread-safe; building one costs tens of
    milliseconds of CPU, which every signature read used to pay twice)."""

    def __init__(self, endpoint_url: str | None) -> None:
        self.endpoint_url = endpoint_url
        self._client: Any = None
        self._lock = threading.Lock()

    def _route53(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = route53_client(self.endpoint_url or "")
            return self._client

    def values(self, name: str, record_type: str) -> set[str]:
        if not self.endpoint_url:
            return set()
        client = self._route53()
        zone_id = self._zone_for(client, _normalise(name))
        if zone_id is None:
            return set()
        found: set[str] = set()
        pages = client.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
        for page in pages:
            for record in page["ResourceRecordSets"]:
                if _normalise(record["Name"]) == _normalise(name) and record["Type"] == record_type:
                    found.update(_record_value(r["Value"], record_type)
                                 for r in record.get("ResourceRecords", []))
        return found

    @staticmethod
    def _zone_for(client: Any, name: str) -> str | None:
        best: tuple[int, str] | None = None
        for page in client.get_paginator("list_hosted_zones").paginate():
            for zone in page["HostedZones"]:
                zone_name = _normalise(zone["Name"])
                if (name == zone_name or name.endswith("." + zone_name)) and (
                    best is None or len(zone_name) > best[0]
                ):
                    best = (len(zone_name), zone["Id"])
        return None if best is None else best[1]


def _record_value(raw: str, record_type: str) -> str:
    return _txt_value(raw) if record_type == "TXT" else _normalise(raw)


def refresh_domain(domain: Document, dns: DnsChecker) -> bool:
    """Re-check the domain's pending DKIM key and Return-Path CNAME; True when anything changed.

    A pending key found in DNS becomes the current one; the key it replaces (a rotation) moves to
    ``DKIMRevoked*``, safe to remove from DNS from then on.
    """
    changed = False
    pending_host = domain.get("DKIMPendingHost")
    if pending_host and domain["DKIMPendingTextValue"] in dns.values(pending_host, "TXT"):
        if domain.get("DKIMHost"):
            domain.update(DKIMRevokedHost=domain["DKIMHost"],
                          DKIMRevokedTextValue=domain["DKIMTextValue"],
                          SafeToRemoveRevokedKeyFromDNS=True)
        domain.update(DKIMHost=pending_host, DKIMTextValue=domain["DKIMPendingTextValue"],
                      DKIMPendingHost="", DKIMPendingTextValue="", DKIMVerified=True,
                      DKIMUpdateStatus="Verified")
        changed = True
    return_path = domain.get("ReturnPathDomain")
    rp_ok = bool(return_path) and RETURN_PATH_CNAME_VALUE in dns.values(return_path, "CNAME")
    if rp_ok != domain.get("ReturnPathDomainVerified"):
        domain["ReturnPathDomainVerified"] = rp_ok
        changed = True
    return changed


async def refresh_domain_async(domain: Document, dns: DnsChecker) -> bool:
    """boto3 blocks: check in a worker thread so the emulator's event loop keeps serving."""
    return await asyncio.to_thread(refresh_domain, domain, dns)


async def spf_verified(name: str, dns: DnsChecker) -> bool:
    """The deprecated SPF check: a TXT at the domain including Postmark's ``spf.mtasv.net``."""
    values = await asyncio.to_thread(dns.values, name, "TXT")
    return any(v.startswith("v=spf1") and "include:spf.mtasv.net" in v for v in values)
