"""What the long-running commands (``serve``, ``worker``) share: listening sockets that fail with
one line, signal handling that always stops the process, and uvicorn without its own signal
handling.

The life of such a process: bind its port (a taken port is one line naming the setting, before
any slow start-up work), start up (a signal now abandons the start-up at once), serve (the first
SIGTERM/SIGINT asks for a graceful stop, the next one stops at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Iterator

import uvicorn

from tenantmail.settings import port_taken

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
last_signal: int | None = None  #: the stop signal this process received, if any (its exit code)


def listen(host: str, port: int, setting: str) -> socket.socket:
    """A socket bound to ``host:port`` for a server to listen on; one-line SettingsError if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise port_taken(host, port, exc.strerror or str(exc), setting) from None
    return sock


def check_free(host: str, port: int, setting: str) -> None:
    """Fail now, with the one line, if ``port`` cannot be listened on (0: any port, always free).
    For ports another component binds later (the sandbox's), so a taken one is reported at once
    rather than after migrations and imports."""
    if port:
        listen(host, port, setting).close()


class QuietServer(uvicorn.Server):
    """uvicorn, leaving signals to the command (see :class:`Stopper`): uvicorn's own handlers
    would replace the command's and re-raise the signal once it has stopped serving, killing the
    process before the command's clean-up (worker drain, endpoints file, sandbox state) ran."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Stopper:
    """SIGINT/SIGTERM for a long-running command.

    During start-up a signal cancels the start-up task. Once :meth:`started`, the first signal
    calls ``graceful`` (finish in-flight work, then return) and a second one cancels the task.
    """

    def __init__(self) -> None:
        self._task = asyncio.current_task()
        self._graceful: Callable[[], None] | None = None
        self.received: int | None = None  #: the first stop signal received, if any

    def started(self, graceful: Callable[[], None]) -> None:
        self._graceful = graceful

    def _on_signal(self, signum: int) -> None:
        global last_signal
        last_signal = last_signal or signum
        first = self.received is None
        self.received = self.received or signum
        if first and self._graceful is not None:
            self._graceful()
        elif self._task is not None:
            self._task.cancel()

    @contextlib.contextmanager
    def installed(self) -> Iterator[Stopper]:
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            yield self
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)


def quiet_server(app: object, *, lifespan: str = "on") -> QuietServer:
    """A uvicorn server for ``app`` whose logging goes through ours (no access log)."""
    return QuietServer(uvicorn.Config(app, log_config=None, access_log=False, lifespan=lifespan))  # type: ignore[arg-type]
