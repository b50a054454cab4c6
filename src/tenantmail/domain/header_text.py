"""Text that ends up in a mail header or an identifier (SPEC §14): one rule, every door.

Subjects, names, addresses, tenant ids, Idempotency-Keys, eIds, query parameters (and, later, tags
and metadata keys) reject the C0 controls (NUL included), DEL, and U+2028 / U+2029 — characters
that split or smuggle header lines, that PostgreSQL cannot store (NUL), or that render as line
breaks. Message bodies may hold TAB, CR and LF but never NUL (:func:`check_body_text`).

:data:`PATTERN` is the same rule as a regular expression, for the OpenAPI document's ``pattern``.
"""

from __future__ import annotations

import re

from tenantmail.domain.errors import InvalidInput

_FORBIDDEN = "\x00-\x1f\x7f\u2028\u2029"
#: the rule as a JSON Schema ``pattern`` (ECMA-262 syntax)
PATTERN = r"^[^\u0000-\u001f\u007f\u2028\u2029]*$"
_HEADER_BREAKER = re.compile(f"[{_FORBIDDEN}]")


def is_header_text(value: str) -> bool:
    return _HEADER_BREAKER.search(value) is None


def check_header_text(value: str, what: str) -> str:
    """``value`` unchanged, or InvalidInput (400) naming ``what``."""
    if _HEADER_BREAKER.search(value) is not None:
        raise InvalidInput(f"{what} must not contain control characters (C0 incl. NUL, DEL, U+2028, U+2029)")
    return value


def check_body_text(value: str, what: str) -> str:
    """A message body: anything but NUL."""
    if "\x00" in value:
        raise InvalidInput(f"{what} must not contain NUL characters")
    return value
