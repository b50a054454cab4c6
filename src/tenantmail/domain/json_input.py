"""JSON from callers, parsed within bounds (SPEC §14): nesting ≤ 32, no NUL and no lone UTF-16
surrogate in any string.

:func:`loads` is the one parser of every JSON request body (the fast lane, FastAPI's routes via
``entrypoints/api/json_route.py``, the Postmark webhook). Before ``json.loads`` runs (which
recurses, as does validation of what it returns), :func:`nesting_depth` scans the raw bytes without
recursion: a regular expression steps over whole strings and stops at each bracket, so only the
structure is visited. Bodies with no more than :data:`MAX_DEPTH` opening brackets in all (nearly
every real one) skip even that. NUL: JSON can only carry it escaped (``\\u0000``), so a body
without that sequence holds none; one with it is walked (iteratively) after parsing. Likewise a
lone surrogate (half of a UTF-16 pair, not text: no database or mail header can encode it) comes
only escaped (``\\ud800``) or as the bytes ``ED A0..BF`` that ``json.loads`` lets through.
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
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")  #: NUL, and a surrogate left unpaired by the parser


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
    """``json.loads`` after :func:`check_nesting`; InvalidInput for NUL or a lone surrogate in any string.

    ``json.JSONDecodeError`` / ``UnicodeDecodeError`` propagate as from ``json.loads``."""
    data = raw.encode() if isinstance(raw, str) else raw
    check_nesting(data)
    value = json.loads(data)
    if (b"\\u" in data or b"\xed" in data) and _holds_non_text(value):
        raise InvalidInput("JSON strings must not contain NUL characters or unpaired UTF-16 surrogates")
    return value


def _holds_non_text(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _NOT_TEXT.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
