"""The partition's mail zone in Route 53 over boto3 (implements ``DnsGateway``).

boto3 is synchronous, so every call runs in a worker thread (``asyncio.to_thread``) on one shared
client (boto3 clients are thread-safe). Works the same against AWS and moto's server mode
(``endpoint_url``).

Wire format quirks handled here, so the rest of the code sees plain values (``DnsRecord``):

* Route 53 names and CNAME targets end with a dot; ours do not.
* A TXT value is a sequence of quoted character-strings of at most 255 characters each
  (``"k=rsa; p=MIIB..." "...rest"``); a DKIM key is longer, so we split on write and join on read.
  Inside a string ``"`` and ``\\`` are backslash-escaped, and Route 53 answers other special
  characters as ``\\DDD`` octal escapes.
* An UPSERT replaces the whole record set at that name and type: each name we manage (the DKIM
  host, the Return-Path host) carries exactly one value.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from tenantmail.services.ports import DnsRecord

MANAGED_TYPES = frozenset({"TXT", "CNAME"})
TXT_CHUNK = 255  #: longest character-string in one TXT record (RFC 1035 §3.3)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(\d{3}|.)")


class DnsError(Exception):
    """A Route 53 call failed (refused, unreachable, or an invalid change batch)."""


def quote_txt(value: str) -> str:
    """TXT text as Route 53 wants it: escaped quoted strings of ≤ 255 characters each."""
    escaped_chunks = (
        value[start : start + TXT_CHUNK].replace("\\", "\\\\").replace('"', '\\"')
        for start in range(0, max(len(value), 1), TXT_CHUNK)
    )
    return " ".join(f'"{chunk}"' for chunk in escaped_chunks)


def unquote_txt(wire: str) -> str:
    """The text of a Route 53 TXT value: its quoted strings unescaped and joined (no separator)."""
    chunks = _QUOTED.findall(wire)
    if not chunks:
        return wire
    return "".join(_ESCAPE.sub(_unescape, chunk) for chunk in chunks)


def _unescape(match: re.Match[str]) -> str:
    escaped = match[1]
    return chr(int(escaped, 8)) if escaped.isdigit() else escaped


def _fqdn(name: str) -> str:
    return name.rstrip(".") + "."


def _normal_name(name: str) -> str:
    """Our form of a Route 53 name: no trailing dot, ``\\DDD`` escapes decoded, lower case."""
    return _ESCAPE.sub(_unescape, name).rstrip(".").lower()


def _wire_value(record: DnsRecord) -> str:
    return quote_txt(record.value) if record.type == "TXT" else _fqdn(record.value)


def _record_set(record: DnsRecord) -> dict[str, Any]:
    return {
        "Name": _fqdn(record.name),
        "Type": record.type,
        "TTL": record.ttl,
        "ResourceRecords": [{"Value": _wire_value(record)}],
    }


def records_from_set(record_set: dict[str, Any]) -> Iterator[DnsRecord]:
    """Our records in one Route 53 record set (alias sets and other types yield nothing)."""
    if record_set["Type"] not in MANAGED_TYPES:
        return
    name = _normal_name(record_set["Name"])
    for resource in record_set.get("ResourceRecords", ()):
        wire = resource["Value"]
        value = unquote_txt(wire) if record_set["Type"] == "TXT" else wire.rstrip(".").lower()
        yield DnsRecord(
            name=name, type=record_set["Type"], value=value, ttl=int(record_set.get("TTL", 300))
        )


class Route53DnsGateway:
    """One hosted zone. Credentials come from the usual AWS chain unless given explicitly.

    ``zone_id`` None: the zone is looked up by ``zone_name`` on first use, so a process that never
    touches DNS (most CLI commands) never needs Route 53 to answer.
    """

    def __init__(
        self,
        zone_id: str | None,
        *,
        endpoint_url: str | None,
        region: str = "us-east-1",
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        zone_name: str | None = None,
    ):
        if zone_id is None and not zone_name:
            raise ValueError("a zone id or a zone name is needed")
        self._known_zone_id, self._zone_name = zone_id, zone_name
        self._client = boto3.client(
            "route53",
            endpoint_url=endpoint_url or None,
            region_name=region,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
        )

    def __repr__(self) -> str:
        return f"Route53DnsGateway(zone_id={self._known_zone_id!r}, zone_name={self._zone_name!r})"

    @property
    def zone_id(self) -> str:
        """The hosted zone's id, looked up by name the first time it is needed (blocking;
        :class:`DnsError` when there is no such zone or Route 53 does not answer)."""
        if self._known_zone_id is None:
            self._known_zone_id = self._find_zone_id()
        return self._known_zone_id

    def _find_zone_id(self) -> str:
        wanted = _fqdn(self._zone_name or "").lower()
        with _as_dns_error():
            answer = self._client.list_hosted_zones_by_name(DNSName=wanted)
        for hosted in answer.get("HostedZones", []):
            if hosted["Name"].lower() == wanted:
                return str(hosted["Id"]).rsplit("/", 1)[-1]
        raise DnsError(f"Route 53: no hosted zone named {self._zone_name}")

    async def upsert_records(self, records: Sequence[DnsRecord]) -> None:
        changes = [
            {"Action": "UPSERT", "ResourceRecordSet": _record_set(record)} for record in records
        ]
        await asyncio.to_thread(self._change, changes)

    async def delete_records(self, records: Sequence[DnsRecord]) -> None:
        """Delete whatever is at each record's name and type now (its value may have changed);
        absent records are fine."""
        await asyncio.to_thread(self._delete_present, records)

    async def list_records(self) -> list[DnsRecord]:
        return await asyncio.to_thread(self._list)

    def _delete_present(self, records: Sequence[DnsRecord]) -> None:
        # Route 53 deletes a record set only when given its exact current content.
        current = (self._current_set(record.name, record.type) for record in records)
        changes = [{"Action": "DELETE", "ResourceRecordSet": found} for found in current if found]
        if changes:
            self._change(changes)

    def _current_set(self, name: str, record_type: str) -> dict[str, Any] | None:
        with _as_dns_error():
            answer = self._client.list_resource_record_sets(
                HostedZoneId=self.zone_id,
                StartRecordName=_fqdn(name),
                StartRecordType=record_type,
                MaxItems="1",
            )
        for found in answer["ResourceRecordSets"]:
            if _normal_name(found["Name"]) == _normal_name(name) and found["Type"] == record_type:
                return found
        return None

    def _change(self, changes: list[dict[str, Any]]) -> None:
        if not changes:
            return
        with _as_dns_error():
            self._client.change_resource_record_sets(
                HostedZoneId=self.zone_id, ChangeBatch={"Changes": changes}
            )

    def _list(self) -> list[DnsRecord]:
        paginator = self._client.get_paginator("list_resource_record_sets")
        with _as_dns_error():
            pages = list(paginator.paginate(HostedZoneId=self.zone_id))
        return [
            record
            for page in pages
            for found in page["ResourceRecordSets"]
            for record in records_from_set(found)
        ]


@contextmanager
def _as_dns_error() -> Iterator[None]:
    """Map boto's exceptions to ``DnsError``, keeping the cause."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise DnsError(f"Route 53: {exc}") from exc
