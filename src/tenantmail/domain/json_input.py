"""JSON from callers, parsed within bounds (SPEC §14): nesting ≤ 32, no NUL in any string.

:func:`loads` is the one parser of every JSON request body (the fast lane, FastAPI's routes via
``entrypoints/api/json_route.py``, the Postmark webhook). Before ``json.loads`` runs (which
recurses, as does validation of what it returns), :func:`nesting_depth` scans the raw bytes without
recursion: a regular expression steps over whole strings and stops at each bracket, so only the
structure is visited. Bodies with no more than :data:`MAX_DEPTH` opening brackets in all (nearly
every real one) skip even that. NUL: JSON can only carry it escaped (``\\u0000``), so a body
without that sequence holds none; one with it is walked (iteratively) after parsing.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tenantmail.domain.errors import InvalidInput

MAX_DEPTH = 32
#: a whole JSON string (escapes included) or one bracket
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_OPEN = frozenset(b"[{")


class TooDeeplyNested(InvalidInput):
    pass


def nesting_depth(raw: bytes, stop_above: int = MAX_DEPTH) -> int:
    """The deepest bracket nesting in ``raw`` (strings skipped), counting no further than ``stop_above + 1``."""
    depth = deepest = 0
    for token in _TOKEN.finditer(raw):
        first = token.group()[0]
        if first == 0x22:  # a string
            continue
        if first in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    break
        else:
            depth -= 1
    return deepest


def check_nesting(raw: bytes) -> None:
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and nesting_depth(raw) > MAX_DEPTH:
        raise TooDeeplyNested(f"the JSON body is nested deeper than {MAX_DEPTH} levels")


def loads(raw: bytes | str) -> Any:
    """``json.loads`` after :func:`check_nesting`; InvalidInput for NUL in any string.

    ``json.JSONDecodeError`` / ``UnicodeDecodeError`` propagate as from ``json.loads``."""
    data = raw.encode() if isinstance(raw, str) else raw
    check_nesting(data)
    value = json.loads(data)
    if b"\\u0000" in data and _holds_nul(value):
        raise InvalidInput("JSON strings must not contain NUL characters")
    return value


def _holds_nul(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
