"""Fixtures that build tenantmail itself: settings for a test, and the running Container."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sentry_sdk
import uvicorn
from pydantic import SecretStr
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from tenantmail.adapters.telemetry import init_sentry
from tenantmail.bootstrap import Container, bootstrap
from tenantmail.entrypoints.api.app import create_app
from tenantmail.entrypoints.worker import run_worker
from tenantmail.settings import Settings

TEST_API_KEY = "test-api-key-0123456789abcdef"


@pytest.fixture
def settings(database_url: str, tmp_path: Path, api_port: int) -> Settings:
    """Settings for one test: its database, its own ./var/, a known API key, free sandbox ports."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        var_dir=tmp_path / "var",
        api_keys=[SecretStr(TEST_API_KEY)],
        sandbox_postmark_port=0,
        sandbox_route53_port=0,
        verification_poll_seconds=0.2,
        worker_poll_seconds=0.05,
        log_format="json",
        public_base_url=f"http://127.0.0.1:{api_port}",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def api_socket() -> Iterator[socket.socket]:
    """The listening socket of the test's API, bound now and held for the whole test, so no other
    server (the sandbox, moto, another test's) can take its port before ``live_api`` serves on it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock
    finally:
        sock.close()


@pytest.fixture
def api_port(api_socket: socket.socket) -> int:
    """The port the test's API listens on when served over real HTTP (see ``live_api``)."""
    return int(api_socket.getsockname()[1])


@pytest.fixture
async def app_container(settings: Settings) -> AsyncIterator[Container]:
    """The whole Container: database, key registry, and the Postmark sandbox + moto on free ports."""
    app = await bootstrap(settings, migrate=False)
    try:
        yield app
    finally:
        await app.aclose()


def _client(app: Container, transport: httpx.AsyncBaseTransport | None, base: str, tenant: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=transport, base_url=base + app.settings.api_prefix, timeout=30,
        headers={"Authorization": f"Bearer {TEST_API_KEY}", "X-Tenant-Id": tenant, "X-Author": "tests"},
    )


@pytest.fixture
async def api(app_container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client bound to the API in-process (ASGI), as tenant ``tenant-a``."""
    transport = httpx.ASGITransport(app=create_app(container=app_container))
    async with _client(app_container, transport, "http://tenantmail.test", "tenant-a") as client:
        yield client


@pytest.fixture
def client_for(app_container: Container) -> Callable[[str], httpx.AsyncClient]:
    """Another tenant's client: ``async with client_for("tenant-b") as other: ...``."""
    asgi = create_app(container=app_container)
    return lambda tenant: _client(app_container, httpx.ASGITransport(app=asgi), "http://tenantmail.test", tenant)


@pytest.fixture
async def live_api(app_container: Container, api_socket: socket.socket, api_port: int) -> AsyncIterator[str]:
    """The API served over real HTTP on ``settings.public_base_url`` so the sandbox's webhooks reach it."""
    config = uvicorn.Config(create_app(container=app_container), log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[api_socket]))
    while not server.started:
        if task.done():
            raise RuntimeError(f"the test API did not start on port {api_port}") from task.exception()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{api_port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def worker(app_container: Container) -> AsyncIterator[None]:
    """The worker's default loops running in the background of the test."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(app_container.ctx, stop))
    try:
        yield
    finally:
        stop.set()
        await task


class CapturingTransport(Transport):
    """A real Sentry client sends through this; it keeps the events instead of posting them."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        event = envelope.get_event()
        if event is not None:
            self.events.append(event)


@pytest.fixture
def sentry_events() -> Iterator[list[dict[str, Any]]]:
    transport = CapturingTransport()
    assert init_sentry("https://public@127.0.0.1/1", environment="stage", release="test", transport=transport)
    yield transport.events
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)  # back to the inactive client
