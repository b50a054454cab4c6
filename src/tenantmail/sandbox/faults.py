"""Fault injection: make the emulated Postmark fail the way the real one can.

A :class:`FaultRule` matches requests by method and path (``fnmatch``, e.g. ``/email*``) and fires
for its next ``count`` matches or, with ``probability``, for that fraction of them. Kinds:

- ``status``: answer 429 / 500 / 503 (Postmark's bodies) without processing the request;
- ``error_code``: answer HTTP 422 with the given ErrorCode without processing;
- ``delay``: wait ``delay_seconds``, then process normally;
- ``drop``: process the request (the message *is* stored), then withhold the response until the
  client disconnects or ``hold_seconds`` pass: the client sees a timeout, an ambiguous outcome.

:class:`FaultMiddleware` applies them to every Postmark route; the ``/_sandbox`` control API is
never faulted, so a test can always repair what it broke.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import random
import threading
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTROL_PREFIX = "/_sandbox"

_STATUS_BODIES: dict[int, dict[str, Any]] = {
    429: {"ErrorCode": 429, "Message": "Rate limit exceeded."},
    500: {"Message": "Internal server error."},
    503: {"ErrorCode": 100, "Message": "The Postmark API is offline for maintenance."},
}


class FaultKind(StrEnum):
    STATUS = "status"
    ERROR_CODE = "error_code"
    DELAY = "delay"
    DROP = "drop"


@dataclass
class FaultRule:
    kind: FaultKind
    method: str | None = None  #: None: any method
    path: str = "*"  #: fnmatch pattern on the request path
    count: int | None = 1  #: fire for the next N matches; None: unlimited (with ``probability``)
    probability: float = 1.0
    status: int = 503  #: for ``status``
    error_code: int = 0  #: for ``error_code``
    delay_seconds: float = 0.0  #: for ``delay``
    hold_seconds: float = 30.0  #: for ``drop``

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)
        if self.kind is FaultKind.STATUS and self.status not in _STATUS_BODIES:
            raise ValueError(f"status must be one of {sorted(_STATUS_BODIES)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path.lower(), self.path.lower())

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultBook:
    """The active rules; a match consumes one unit of the rule's ``count``."""

    def __init__(self, rules: list[FaultRule] | None = None, seed: int | None = None) -> None:
        self._rules = list(rules or [])
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.to_json() for rule in self._rules]

    def take(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path) and self._random.random() < rule.probability:
                    return self._consume(rule)
        return None

    def _consume(self, rule: FaultRule) -> FaultRule:
        if rule.count is not None:
            rule.count -= 1
            if rule.count <= 0:
                self._rules.remove(rule)
        return rule


class FaultMiddleware:
    """ASGI middleware applying the :class:`FaultBook` of the app state to Postmark routes."""

    def __init__(self, app: ASGIApp, book: FaultBook) -> None:
        self.app = app
        self.book = book

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            return await self.app(scope, receive, send)
        rule = self.book.take(scope["method"], scope["path"])
        if rule is None:
            return await self.app(scope, receive, send)
        if rule.kind is FaultKind.STATUS:
            return await _send_json(send, rule.status, _STATUS_BODIES[rule.status])
        if rule.kind is FaultKind.ERROR_CODE:
            body = {"ErrorCode": rule.error_code, "Message": f"Injected error {rule.error_code}."}
            return await _send_json(send, 422, body)
        if rule.kind is FaultKind.DELAY:
            await asyncio.sleep(rule.delay_seconds)
            return await self.app(scope, receive, send)
        await _process_then_withhold(self.app, scope, receive, send, rule.hold_seconds)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _process_then_withhold(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, hold_seconds: float
) -> None:
    """Run the request to completion but keep its response until the client gives up."""
    held: list[Message] = []

    async def hold(message: Message) -> None:
        held.append(message)

    await app(scope, receive, hold)
    if await _client_disconnected_within(receive, hold_seconds):
        return
    for message in held:  # the client is still there after the hold: answer late
        await send(message)


async def _client_disconnected_within(receive: Receive, seconds: float) -> bool:
    async def wait_disconnect() -> bool:
        while (await receive())["type"] != "http.disconnect":
            pass
        return True

    try:
        return await asyncio.wait_for(wait_disconnect(), timeout=seconds)
    except TimeoutError:
        return False
