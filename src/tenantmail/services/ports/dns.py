"""The partition's mail zone (Route 53), as services see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class DnsRecord:
    name: str  #: fully qualified, no trailing dot
    type: str  #: "TXT" or "CNAME"
    value: str  #: unquoted TXT text, or the CNAME target without trailing dot
    ttl: int = 300


class DnsGateway(Protocol):
    """The partition's mail zone. Names and values are normalised (no trailing dot, TXT unquoted)."""

    async def upsert_records(self, records: Sequence[DnsRecord]) -> None: ...
    async def delete_records(self, records: Sequence[DnsRecord]) -> None: ...  #: absent ones are fine
    async def list_records(self) -> list[DnsRecord]: ...  #: every page of the zone, TXT/CNAME only
