"""A real local HTTP receiver for notifications: records every request (headers, raw body, its
answer) and answers 200, or what it is told to (queued statuses, a failure rate, a delay)."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from tenantmail.sandbox.runner import ThreadedUvicorn


@dataclass
class Arrival:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class NotificationReceiver:
    url: str = ""
    arrivals: list[Arrival] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)  #: answered first, in order
    failure_rate: float = 0.0  #: then 500 with this probability
    delay_seconds: float = 0.0
    seed: int = 19
    journal: list[tuple[str, str]] | None = None  #: (url, webhook-id) as each answer is given, shared between receivers
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def answer(self) -> int:
        with self._lock:
            if self.statuses:
                return self.statuses.popleft()
            return 500 if self._random.random() < self.failure_rate else 200

    def accepted(self) -> list[Arrival]:
        """The arrivals answered 2xx, first come first."""
        with self._lock:
            return [a for a in self.arrivals if 200 <= a.status < 300]

    def unique(self) -> dict[str, Arrival]:
        """The first accepted arrival of each webhook-id (what a deduplicating receiver keeps)."""
        found: dict[str, Arrival] = {}
        for arrival in self.accepted():
            found.setdefault(arrival.webhook_id, arrival)
        return found


@pytest.fixture
def notification_receiver() -> Iterator[NotificationReceiver]:
    with running_receiver(NotificationReceiver()) as receiver:
        yield receiver


@contextmanager
def running_receiver(receiver: NotificationReceiver) -> Iterator[NotificationReceiver]:
    """``receiver`` served over real HTTP (a uvicorn thread) for the block."""

    async def hook(request: Request) -> Response:
        try:
            body = await request.body()
        except ClientDisconnect:  # the sender died mid-request (the crash test kills it)
            return Response(status_code=499)
        if receiver.delay_seconds:
            await asyncio.sleep(receiver.delay_seconds)
        status = receiver.answer()
        with receiver._lock:
            receiver.arrivals.append(Arrival(dict(request.headers), body, status))
            if receiver.journal is not None:
                receiver.journal.append((receiver.url, request.headers["webhook-id"]))
        return Response(status_code=status)

    http = ThreadedUvicorn(Starlette(routes=[Route("/hook", hook, methods=["POST"])])).start()
    receiver.url = f"{http.base_url}/hook"
    try:
        yield receiver
    finally:
        http.stop()
