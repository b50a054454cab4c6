"""Posting webhook events to the webhooks installed on a server's stream, as Postmark does.

:meth:`WebhookDispatcher.publish` is called while handling a request and only queues; a background
task (started in the app's lifespan) posts, so no send call ever waits on a webhook receiver.
One event per request, ``Content-Type: application/json``, the webhook's Basic ``HttpAuth`` and
``HttpHeaders``, a retry-stable ``X-PM-Webhook-Trace-Id``. Retries follow postmark-api.md §7:
only after 5xx, 408, 429, a timeout or a connection error, at the configured (scalable) schedule,
with ``X-PM-Retries-Remaining``; every other status is final.

Fault switches: ``duplicate_deliveries`` posts each event twice (same trace id);
``reorder_deliveries`` gathers what was queued within a short window and posts it in reverse.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from tenantmail.sandbox.config import SandboxConfig
from tenantmail.sandbox.state import Document, SandboxState

RETRYABLE_STATUSES = frozenset({408, 429})


@dataclass
class WebhookPost:
    """One event for one webhook, kept across its retries."""

    webhook: Document
    payload: dict[str, Any]
    trace_id: str
    tries: int = 0
    retries_remaining: int = field(default=0)


def trigger_enabled(webhook: Document, record_type: str) -> bool:
    return bool(webhook.get("Triggers", {}).get(record_type, {}).get("Enabled"))


class WebhookDispatcher:
    def __init__(self, state: SandboxState, config: SandboxConfig) -> None:
        self._state = state
        self._config = config
        self._queue: asyncio.Queue[WebhookPost] = asyncio.Queue()
        self._client: httpx.AsyncClient | None = None
        self._runner: asyncio.Task[None] | None = None
        self._retries: set[asyncio.Task[None]] = set()
        self.attempts: list[dict[str, Any]] = []  #: every try, for the introspection API
        self.pending = 0  #: posts not yet finished (delivered, refused, or out of retries)

    def publish(self, server_id: int, payload: dict[str, Any]) -> int:
        """Queue ``payload`` for every webhook of its stream whose trigger is on; returns that count."""
        hooks = [
            hook for hook in self._state.list("webhook", server_id)
            if hook["MessageStream"] == payload["MessageStream"]
            and trigger_enabled(hook, payload["RecordType"])
        ]
        copies = 2 if self._config.duplicate_deliveries else 1
        for hook in hooks:
            trace_id = str(uuid.uuid4())
            for _ in range(copies):
                retries = len(self._config.retry_schedule)
                self._queue.put_nowait(WebhookPost(hook, payload, trace_id, 0, retries))
                self.pending += 1
        return len(hooks)

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self._config.webhook_timeout_seconds)
        self._runner = asyncio.create_task(self._run(), name="sandbox-webhook-dispatcher")

    async def stop(self) -> None:
        for task in [self._runner, *self._retries]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in [self._runner, *self._retries] if t), return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self._config.reorder_deliveries:
                await asyncio.sleep(self._config.reorder_window_seconds)
                while not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                batch.reverse()
            for post in batch:
                await self._try(post)

    async def _try(self, post: WebhookPost) -> None:
        post.tries += 1
        status, error = await self._post(post)
        self._record(post, status, error)
        retryable = error is not None or status >= 500 or status in RETRYABLE_STATUSES
        if retryable and post.retries_remaining > 0:
            delay = self._config.retry_delays()[post.tries - 1]
            post.retries_remaining -= 1
            task = asyncio.create_task(self._retry_later(post, delay))
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)
        else:
            self.pending -= 1

    async def _retry_later(self, post: WebhookPost, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._try(post)

    async def _post(self, post: WebhookPost) -> tuple[int, str | None]:
        assert self._client is not None, "dispatcher not started"
        headers = {h["Name"]: h["Value"] for h in post.webhook.get("HttpHeaders") or []}
        headers["X-PM-Webhook-Trace-Id"] = post.trace_id
        if post.tries > 1:
            headers["X-PM-Retries-Remaining"] = str(post.retries_remaining)
        auth = post.webhook.get("HttpAuth") or {}
        basic = (auth["Username"], auth.get("Password", "")) if auth.get("Username") else None
        try:
            response = await self._client.post(
                post.webhook["Url"], json=post.payload, headers=headers, auth=basic,
                timeout=self._config.webhook_timeout_seconds,
            )
        except httpx.HTTPError as exc:
            return 0, f"{type(exc).__name__}: {exc}"
        return response.status_code, None

    def _record(self, post: WebhookPost, status: int, error: str | None) -> None:
        self.attempts.append({
            "webhook_id": post.webhook["ID"], "url": post.webhook["Url"],
            "server_id": post.payload.get("ServerID"), "record_type": post.payload["RecordType"],
            "message_id": post.payload.get("MessageID"), "trace_id": post.trace_id,
            "try": post.tries, "status": status, "error": error,
            "at": datetime.now(UTC).isoformat(),
        })
