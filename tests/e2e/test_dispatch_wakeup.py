"""Dispatch is woken by new work (SPEC §16), on both databases: with a poll interval of an hour, a
lone send accepted while the worker idles still reaches the Postmark sandbox — the commit of its
job wakes the worker (LISTEN/NOTIFY on PostgreSQL, the in-process event in the embedded default).
And a configuration's backlog does not hold another configuration's lone send behind it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.bootstrap import Container
from tenantmail.entrypoints.worker import run_dispatch
from tenantmail.services.ports import JobWakeup
from tenantmail.settings import Settings
from tests.e2e.test_send_path import job_status, submit
from tests.helpers import eventually, send_body, sendable_configuration

HOUR = 3600.0


@pytest.fixture
def settings(settings: Settings, engine: AsyncEngine) -> Settings:
    """An emptied database; a poll interval of an hour."""
    return settings.model_copy(update={"worker_poll_seconds": HOUR})


class WatchedWakeup:
    """The process's wake-up, telling the test when dispatch has gone idle (waits for it)."""

    def __init__(self, inner: JobWakeup) -> None:
        self.inner = inner
        self.idle = asyncio.Event()

    def start(self) -> None:
        self.inner.start()

    def notify(self) -> None:
        self.inner.notify()

    def clear(self) -> None:
        self.inner.clear()

    async def wait(self, timeout: float) -> bool:
        self.idle.set()
        try:
            return await self.inner.wait(timeout)
        finally:
            self.idle.clear()

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture
async def idle_dispatch(app_container: Container) -> AsyncIterator[WatchedWakeup]:
    assert app_container.ctx.wakeup is not None  # push wake-up is on by default
    watched = WatchedWakeup(app_container.ctx.wakeup)
    stop = asyncio.Event()
    task = asyncio.create_task(run_dispatch(dataclasses.replace(app_container.ctx, wakeup=watched), stop))
    try:
        await asyncio.wait_for(watched.idle.wait(), 60)  # its first claim found nothing: it waits
        yield watched
    finally:
        stop.set()
        await task


async def _sent(api: httpx.AsyncClient, config_eid: str, key: str, recipient: str = "customer@example.com") -> None:
    accepted = await submit(api, send_body(config_eid, recipient=recipient), key)
    assert accepted.status_code == 202
    await eventually(lambda: job_status(api, accepted.json()["eId"], "SENT"), timeout=60)


async def test_a_lone_send_is_woken_not_polled(
    api: httpx.AsyncClient, app_container: Container, idle_dispatch: WatchedWakeup,
) -> None:
    config = await sendable_configuration(app_container, "tenant-a", "wake")
    await _sent(api, config.e_id, "first")  # well inside the hour-long poll: a wake-up did it
    await asyncio.wait_for(idle_dispatch.idle.wait(), 60)  # idle again, after its pass
    await _sent(api, config.e_id, "second", recipient="other@example.com")
