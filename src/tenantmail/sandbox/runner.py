"""Run the emulator and local Route 53 together, e.g. for ``make run`` or ``tenantmail sandbox``.

uvicorn runs in its own thread with its own event loop, so the emulator keeps serving (and posting
webhooks) whatever the caller's loop is doing, and uvicorn installs no signal handlers there.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import uvicorn
from starlette.types import ASGIApp

from tenantmail.sandbox.app import create_app
from tenantmail.sandbox.config import SandboxConfig
from tenantmail.sandbox.route53_local import (
    LocalRoute53,
    ensure_zone,
    restore_records,
    save_records,
    start_route53,
)

STATE_FILE = "postmark.sqlite3"
RECORDS_FILE = "route53-records.json"


class PortInUse(OSError):
    """A port the sandbox was told to listen on is taken (or cannot be bound)."""

    def __init__(self, role: str, host: str, port: int, reason: str):
        super().__init__(f"the sandbox's {role} port {host}:{port} is not free ({reason})")
        self.role, self.host, self.port, self.reason = role, host, port, reason


@contextmanager
def _binding(role: str, host: str, port: int) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise PortInUse(role, host, port, exc.strerror or str(exc)) from exc


class ThreadedUvicorn:
    """An ASGI app served by uvicorn on a loopback port (0 = free) in a background thread."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError:
            self._socket.close()
            raise
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True,
            name=f"uvicorn-{self.port}",
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> Self:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {self.base_url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


@dataclass
class RunningSandbox:
    base_url: str  #: the Postmark API base URL
    route53_endpoint_url: str
    account_token: str
    zone_name: str
    zone_id: str
    state_path: Path | None
    _http: ThreadedUvicorn
    _route53: LocalRoute53

    def stop(self) -> None:
        self._http.stop()
        if self.state_path is not None:  # keep the zone's records for the next start
            save_records(self.route53_endpoint_url, self.zone_id, self.state_path.parent / RECORDS_FILE)
        self._route53.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def start_sandbox(
    *, account_token: str, host: str = "127.0.0.1", postmark_port: int = 0,
    route53_port: int = 0, state_dir: str | Path | None = None,
    zone_name: str = "dev.ardamails.com", config: SandboxConfig | None = None,
) -> RunningSandbox:
    """Start moto (with the mail zone) and the emulator; ``state_dir=None`` keeps state in memory.

    Raises :class:`PortInUse` at once when either port cannot be bound."""
    with _binding("Route 53", host, route53_port):
        route53 = start_route53(host, route53_port)
    try:
        zone_id = ensure_zone(route53.endpoint_url, zone_name)
        state_path = None if state_dir is None else Path(state_dir) / STATE_FILE
        if state_dir is not None:
            restore_records(route53.endpoint_url, zone_id, Path(state_dir) / RECORDS_FILE)
        app = create_app(state_path, account_token=account_token,
                         route53_endpoint_url=route53.endpoint_url, config=config)
        with _binding("Postmark", host, postmark_port):
            http = ThreadedUvicorn(app, host, postmark_port)
        http.start()
    except BaseException:
        route53.stop()
        raise
    return RunningSandbox(http.base_url, route53.endpoint_url, account_token, zone_name, zone_id,
                          state_path, http, route53)
