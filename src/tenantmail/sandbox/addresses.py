"""E-mail address parsing with Postmark's wording for the errors (postmark-api.md §4.3)."""

from __future__ import annotations

import re
from email.utils import getaddresses, parseaddr

from tenantmail.sandbox.errors import ApiError

_ADDR = re.compile(r"^[^@\s<>,;\"]+@([A-Za-z0-9-]+\.)+[A-Za-z]{2,}$")


def is_address(value: str) -> bool:
    return bool(_ADDR.match(value))


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def parse_single(value: object, field: str) -> tuple[str, str]:
    """(display name, addr-spec) of a one-address field such as ``From``; 300 when invalid."""
    if not isinstance(value, str) or not value.strip():
        raise ApiError(300, f"Invalid '{field}' value.")
    name, address = parseaddr(value)
    if not is_address(address):
        raise ApiError(300, f"Invalid '{field}' value.")
    return name, address


def parse_list(value: object, field: str) -> list[tuple[str, str]]:
    """Every (name, address) of a comma-separated field (To, Cc, Bcc); 300 for a bad one."""
    if value in (None, ""):
        return []
    if not isinstance(value, str):
        raise ApiError(300, f"Invalid '{field}' address: '{value}'.")
    parsed = []
    for raw, (name, address) in zip(_split(value), getaddresses([value]), strict=False):
        if not is_address(address):
            raise ApiError(300, f"Invalid '{field}' address: '{raw.strip()}'.")
        parsed.append((name, address))
    if len(parsed) != len(_split(value)):
        raise ApiError(300, f"Invalid '{field}' address: '{value}'.")
    return parsed


def _split(value: str) -> list[str]:
    """Split on commas outside quotes (display names may contain commas)."""
    parts, current, quoted = [], "", False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]
