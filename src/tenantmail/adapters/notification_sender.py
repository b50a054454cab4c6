"""Notifications over HTTP (httpx): one POST, a short timeout, no redirects followed.

Whatever happens is an answer, never an exception: a status code, or none (timeout, refused,
reset, TLS) with the reason. The body excerpt kept on a failure is short and never includes what
we sent (the log must not become a copy of the payloads).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx

from tenantmail.services.ports.notifications import ReceiverAnswer

EXCERPT = 200  #: characters of a non-2xx answer kept in the delivery log


class HttpNotificationSender:
    def __init__(self, *, timeout_seconds: float, user_agent: str,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(
            timeout=timeout_seconds, follow_redirects=False, transport=transport,
            headers={"user-agent": user_agent, "content-type": "application/json"},
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> ReceiverAnswer:
        began = time.perf_counter()
        try:
            response = await self._client.post(url, content=body, headers=dict(headers))
        except httpx.HTTPError as exc:
            return ReceiverAnswer(None, _ms(began), f"{type(exc).__name__}: {exc}"[:EXCERPT])
        error = None if response.is_success else response.text[:EXCERPT]
        return ReceiverAnswer(response.status_code, _ms(began), error)

    async def aclose(self) -> None:
        await self._client.aclose()


def _ms(began: float) -> int:
    return int((time.perf_counter() - began) * 1000)
