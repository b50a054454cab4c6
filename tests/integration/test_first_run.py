"""A newcomer's first run and an operator's second terminal, with real processes (SPEC §15).

``tenantmail serve`` in the embedded default never hangs: a taken port is one line naming the
setting, at once; SIGTERM and SIGINT always stop it. A CLI started with nothing but the same
``TENANTMAIL_VAR_DIR`` finds a serve on other ports through ``var/endpoints.json``. A database
that does not answer, or a missing production setting, is one line with a hint, never a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tenantmail.adapters.keyregistry import generate_registry_file
from tenantmail.bootstrap import bootstrap
from tenantmail.sandbox.runner import PortInUse, start_sandbox
from tenantmail.settings import Settings, SettingsError
from tests.app_fixtures import free_port
from tests.helpers import eventually

CLI = str(Path(sys.executable).with_name("tenantmail"))
pytestmark = pytest.mark.slow  # real processes


def newcomer(tmp_path: Path, **settings: str) -> dict[str, str]:
    """A shell with no TENANTMAIL_* settings but ``settings`` (and the test's var dir)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTMAIL_")}
    return {**env, "TENANTMAIL_VAR_DIR": str(tmp_path / "var"),
            **{f"TENANTMAIL_{name.upper()}": value for name, value in settings.items()}}


def stderr_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.strip()]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("setting", ["SANDBOX_ROUTE53_PORT", "SANDBOX_POSTMARK_PORT", "PORT"])
def test_a_taken_port_stops_serve_at_once_with_one_line_naming_it(
    setting: str, taken_port: int, tmp_path: Path,
) -> None:
    ports = {"PORT": str(free_port()), "SANDBOX_POSTMARK_PORT": "0", "SANDBOX_ROUTE53_PORT": "0"}
    env = newcomer(tmp_path, **{**ports, setting: str(taken_port)})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([CLI, "serve"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = stderr_lines(done)
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert f"port {taken_port} on 127.0.0.1 is taken" in lines[0] and f"TENANTMAIL_{setting}" in lines[0]
    # Within 5 s: a hang (the old failure: waiting forever for moto) would hit the timeout above;
    # the work done before giving up is bounded by CPU time, which the shared machine's load
    # cannot stretch (its wall time can: 2 cores shared by parallel test runs).
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 5, f"serve used {cpu:.1f} s of CPU before giving up"


def test_the_sandbox_refuses_a_taken_port_at_once(taken_port: int, tmp_path: Path) -> None:
    """Below serve's early check: the sandbox's own binds raise at once (moto's server used to
    wait forever for a bind that had failed in its thread)."""
    for ports in ({"route53_port": taken_port}, {"postmark_port": taken_port}):
        with pytest.raises(PortInUse) as raised:
            start_sandbox(account_token="t", state_dir=None, **ports)
        assert raised.value.port == taken_port


async def test_bootstrap_names_the_setting_of_a_taken_sandbox_port(taken_port: int, tmp_path: Path) -> None:
    settings = Settings(_env_file=None, var_dir=tmp_path / "var", sandbox_postmark_port=0,  # type: ignore[call-arg]
                        sandbox_route53_port=taken_port)
    with pytest.raises(SettingsError) as raised:
        await bootstrap(settings)
    assert raised.value.lines == [f"port {taken_port} on 127.0.0.1 is taken (Address already in use): "
                                  "set TENANTMAIL_SANDBOX_ROUTE53_PORT (0 picks one) to a free port"]


def _serve(tmp_path: Path, **settings: str) -> subprocess.Popen[str]:
    return subprocess.Popen([CLI, "serve"], env=newcomer(tmp_path, **settings), cwd=tmp_path, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def _healthy(port: int) -> bool:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            return (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
    except httpx.TransportError:
        return False


def _stop(proc: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str]:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


async def test_a_cli_in_a_second_terminal_finds_a_serve_on_other_ports(tmp_path: Path) -> None:
    api, postmark, route53 = free_port(), free_port(), free_port()
    serve = _serve(tmp_path, PORT=str(api), SANDBOX_POSTMARK_PORT=str(postmark), SANDBOX_ROUTE53_PORT=str(route53),
                   WORKER_POLL_SECONDS="0.05", VERIFICATION_POLL_SECONDS="0.2")
    endpoints = tmp_path / "var" / "endpoints.json"
    try:
        await eventually(lambda: _healthy(api), timeout=60)
        written = json.loads(endpoints.read_text())
        assert (written["api"], written["postmark"], written["route53"]) == (
            f"http://127.0.0.1:{api}/v1/shop-access/email", f"http://127.0.0.1:{postmark}",
            f"http://127.0.0.1:{route53}")

        second_terminal = newcomer(tmp_path)  # nothing about ports: only the same var dir

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([CLI, *args, "--tenant", "acme", "--json"], env=second_terminal, cwd=tmp_path,
                                  capture_output=True, text=True, timeout=120)

        created = cli("config", "create", "--slug", "acme", "--from-name", "Acme")
        assert created.returncode == 0, created.stdout + created.stderr
        e_id = json.loads(created.stdout)["eId"]
        # provisioning needs the sandbox's Postmark and Route 53 (serve's worker does it), and
        # --wait reads the outcome: OK proves the CLI and serve met on the ports in the file
        provisioned = cli("config", "provision", e_id, "--wait", "--timeout", "90")
        assert provisioned.returncode == 0, provisioned.stdout + provisioned.stderr
        assert json.loads(provisioned.stdout)["payload"]["operationalStatus"] == "OK"
    finally:
        code, banner = _stop(serve, signal.SIGTERM)
    assert code == 0, banner
    assert not endpoints.exists()  # removed by the serve that wrote it
    for url in (f"http://127.0.0.1:{api}/v1/shop-access/email", f"http://127.0.0.1:{api}/v1/shop-access/email/docs",
                f"http://127.0.0.1:{api}/console/", f"Postmark http://127.0.0.1:{postmark}",
                f"Route 53 http://127.0.0.1:{route53}"):
        assert url in banner  # the start-up banner names every address a newcomer needs
    assert "API key   tm_" in banner


async def test_sigint_stops_serve_too(tmp_path: Path) -> None:
    api = free_port()
    serve = _serve(tmp_path, PORT=str(api), SANDBOX_POSTMARK_PORT="0", SANDBOX_ROUTE53_PORT="0")
    try:
        await eventually(lambda: _healthy(api), timeout=60)
    finally:
        code, err = _stop(serve, signal.SIGINT)
    assert code == 0, err


def _production(tmp_path: Path, **settings: str) -> dict[str, str]:
    registry = tmp_path / "keys.json"
    if not registry.exists():
        generate_registry_file(registry)
    defaults = {"POSTMARK_BASE_URL": "http://127.0.0.1:1", "POSTMARK_ACCOUNT_TOKEN": "token",
                "API_KEYS": "production-key-0123456789", "KEY_REGISTRY_FILE": str(registry), "MAIL_ZONE_ID": "Z1",
                "PORT": str(free_port()), "WORKER_PORT": str(free_port())}
    return newcomer(tmp_path, **{**defaults, **settings})


@pytest.mark.parametrize("command", [["config", "list", "--tenant", "acme"], ["migrate"], ["worker"], ["serve"]])
def test_an_unreachable_database_is_one_line_with_a_hint(command: list[str], tmp_path: Path) -> None:
    nowhere = f"postgresql://tenantmail:s3cret@127.0.0.1:{free_port()}/tenantmail"
    env = _production(tmp_path, DATABASE_URL=nowhere)
    done = subprocess.run([CLI, *command], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    lines = stderr_lines(done)
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("error: cannot use the database postgresql://tenantmail:***@127.0.0.1:")
    assert "TENANTMAIL_DATABASE_URL" in lines[0] and "s3cret" not in done.stderr + done.stdout

    as_json = subprocess.run([CLI, *command, "--json"], env=env, capture_output=True, text=True, timeout=60,
                             cwd=tmp_path)
    answer = json.loads(as_json.stdout.splitlines()[-1])
    assert as_json.returncode == 2 and answer["error"] == "DatabaseUnavailable" and set(answer) == {"error", "message"}


@pytest.mark.parametrize(("settings", "expected"), [
    ({"API_KEYS": ""}, "invalid setting TENANTMAIL_API_KEYS: required outside the sandbox"),
    ({"LOG_FORMAT": "xml"}, "invalid setting TENANTMAIL_LOG_FORMAT: Input should be 'console' or 'json'"),
    ({"MAIL_ZONE_ID": "", "ROUTE53_ENDPOINT_URL": "http://127.0.0.1:1"},
     "invalid setting TENANTMAIL_MAIL_ZONE_ID: not given, and looking up"),
])
def test_a_production_setting_missing_or_wrong_is_one_line_never_a_traceback(
    settings: dict[str, str], expected: str, fresh_database_url: str, tmp_path: Path,
) -> None:
    env = _production(tmp_path, DATABASE_URL=fresh_database_url, **settings)
    assert subprocess.run([CLI, "migrate"], env=env, capture_output=True, timeout=60, cwd=tmp_path).returncode in (0, 2)
    for command in ("serve", "worker"):
        done = subprocess.run([CLI, command], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
        lines = stderr_lines(done)
        assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"error: {expected}"), done.stderr
        assert "Traceback" not in done.stdout


@dataclasses.dataclass
class SilentDatabase:
    port: int
    connected: threading.Event


@pytest.fixture
def silent_database() -> Iterator[SilentDatabase]:
    """A port that takes connections and never answers: a database stuck before its handshake."""
    held: list[socket.socket] = []
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        silent = SilentDatabase(int(sock.getsockname()[1]), threading.Event())

        def accept() -> None:
            while True:
                try:
                    held.append(sock.accept()[0])
                except OSError:  # closed at the end of the test
                    return
                silent.connected.set()

        threading.Thread(target=accept, daemon=True).start()
        yield silent
    for conn in held:
        conn.close()


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_stop_signal_during_start_up_stops_it_too(
    command: str, silent_database: SilentDatabase, tmp_path: Path,
) -> None:
    env = _production(tmp_path, DATABASE_URL=f"postgresql://tenantmail@127.0.0.1:{silent_database.port}/tenantmail")
    proc = subprocess.Popen([CLI, command], env=env, cwd=tmp_path, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert silent_database.connected.wait(timeout=60)  # start-up now waits for the database
    finally:
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM  # our handler's exit, not a kill
    assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")


def test_commands_that_need_no_dns_work_with_no_serve_running(tmp_path: Path) -> None:
    """Nothing listens on the sandbox's ports: creating and listing never ask Route 53 or Postmark."""
    env = newcomer(tmp_path, SANDBOX_POSTMARK_PORT=str(free_port()), SANDBOX_ROUTE53_PORT=str(free_port()))
    created = subprocess.run([CLI, "config", "create", "--tenant", "acme", "--slug", "acme", "--from-name", "Acme",
                              "--json"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["payload"]["operationalStatus"] == "PENDING"
    assert created.stderr == ""  # no traceback, not even a warning
