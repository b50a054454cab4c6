"""Fixtures for the Postmark emulator's own tests (a pytest plugin module).

The emulator runs under uvicorn on a free loopback port, backed by moto's real Route 53 server;
webhooks go to a small receiver app, also on loopback. Clients are plain synchronous httpx: the
servers live in their own threads.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tenantmail.sandbox.app import create_app
from tenantmail.sandbox.config import SandboxConfig
from tenantmail.sandbox.context import Sandbox
from tenantmail.sandbox.route53_local import LocalRoute53, ensure_zone, start_route53
from tenantmail.sandbox.runner import ThreadedUvicorn
from tenantmail.sandbox.verification import route53_client

ACCOUNT_TOKEN = "sandbox-test-account-token"
ZONE = "sandbox.example.com"
JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}
T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 10.0) -> T:
    """Poll until ``probe`` returns something truthy (webhooks are posted asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Emulator:
    base_url: str
    sandbox: Sandbox
    route53_endpoint_url: str
    zone_id: str
    clients: list[httpx.Client] = field(default_factory=list)

    def _client(self, base: str, headers: dict[str, str]) -> httpx.Client:
        client = httpx.Client(base_url=base, headers=headers, timeout=10)
        self.clients.append(client)
        return client

    @property
    def account(self) -> httpx.Client:
        return self._client(self.base_url, {**JSON_HEADERS, "X-Postmark-Account-Token": ACCOUNT_TOKEN})

    @property
    def control(self) -> httpx.Client:
        return self._client(f"{self.base_url}/_sandbox", {"X-Postmark-Account-Token": ACCOUNT_TOKEN})

    def server(self, token: str, timeout: float = 10) -> httpx.Client:
        client = self._client(self.base_url, {**JSON_HEADERS, "X-Postmark-Server-Token": token})
        client.timeout = httpx.Timeout(timeout)
        return client

    def create_server(self, **fields: Any) -> dict[str, Any]:
        response = self.account.post("/servers", json={"Name": unique("srv"), **fields})
        assert response.status_code == 200, response.text
        return response.json()

    def publish_dns(self, signature: dict[str, Any]) -> None:
        """UPSERT the DKIM TXT and Return-Path CNAME the signature asks for, as tenantmail does."""
        changes = [
            ("TXT", signature["DKIMPendingHost"], f'"{signature["DKIMPendingTextValue"]}"'),
            ("CNAME", signature["ReturnPathDomain"], signature["ReturnPathDomainCNAMEValue"]),
        ]
        route53_client(self.route53_endpoint_url).change_resource_record_sets(
            HostedZoneId=self.zone_id,
            ChangeBatch={"Changes": [
                {"Action": "UPSERT", "ResourceRecordSet": {
                    "Name": name, "Type": kind, "TTL": 300, "ResourceRecords": [{"Value": value}]}}
                for kind, name, value in changes
            ]},
        )

    def verified_sender(self) -> str:
        """A From address on a fresh domain of the zone, verified through real DNS records."""
        domain = f"{unique('t')}.{ZONE}"
        created = self.account.post("/senders", json={
            "FromEmail": f"shop@{domain}", "Name": "Shop", "ReturnPathDomain": f"pm-bounces.{domain}"})
        assert created.status_code == 200, created.text
        self.publish_dns(created.json())
        assert self.account.get(f"/senders/{created.json()['ID']}").json()["DKIMVerified"]
        return f"shop@{domain}"


@pytest.fixture(scope="session")
def local_route53() -> Iterator[LocalRoute53]:
    route53 = start_route53("127.0.0.1", 0)
    yield route53
    route53.stop()


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """Postmark's retry schedule scaled down 2000× (30 ms ... 450 ms) so retry tests are quick."""
    return SandboxConfig(retry_scale=0.0005, webhook_timeout_seconds=2.0, seed=7)


def serve_emulator(local_route53: LocalRoute53, config: SandboxConfig,
                   state_path: Path | None) -> tuple[ThreadedUvicorn, Emulator]:
    zone_id = ensure_zone(local_route53.endpoint_url, ZONE)
    app = create_app(state_path, account_token=ACCOUNT_TOKEN,
                     route53_endpoint_url=local_route53.endpoint_url, config=config)
    http = ThreadedUvicorn(app).start()
    return http, Emulator(http.base_url, app.state.sandbox, local_route53.endpoint_url, zone_id)


@pytest.fixture
def emulator(local_route53: LocalRoute53, sandbox_config: SandboxConfig) -> Iterator[Emulator]:
    http, emulator = serve_emulator(local_route53, sandbox_config, None)
    yield emulator
    for client in emulator.clients:
        client.close()
    http.stop()


@dataclass
class Receiver:
    """A webhook endpoint recording every request; answers with queued statuses, then 200."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)

    def bodies(self, record_type: str | None = None) -> list[dict[str, Any]]:
        return [r["json"] for r in self.requests
                if record_type is None or r["json"]["RecordType"] == record_type]


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver(url="")

    async def hook(request: Request) -> JSONResponse:
        receiver.requests.append({"headers": dict(request.headers), "json": await request.json()})
        status = receiver.statuses.popleft() if receiver.statuses else 200
        return JSONResponse({}, status_code=status)

    http = ThreadedUvicorn(Starlette(routes=[Route("/hook", hook, methods=["POST"])])).start()
    receiver.url = f"{http.base_url}/hook"
    yield receiver
    http.stop()
