"""The console in a real browser: Debian's chromium driven by Playwright, against a real `serve`.

One `tenantmail serve` (API, embedded worker, Postmark sandbox, local Route 53) per module and
database, and one chromium per module: browsers are heavy on a 2-core machine. The flows run with
JavaScript switched off (the console needs none); the axe-core check runs in a second, scripted
context over the very HTML the operator saw.

Without chromium (or Playwright) the tests are skipped with a notice; under ``CI=true`` that is a
failure (`.ci/run` installs chromium when missing). ``TENANTMAIL_CHROMIUM`` names another binary;
``TENANTMAIL_CONSOLE_SCREENSHOTS=<dir>`` saves the documentation's screenshots there
(``make console-screenshots``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.app_fixtures import TEST_API_KEY, free_port
from tests.conftest import UNDER_CI, _admin, _backend_params, _pg_url
from tests.sandbox_fixtures import eventually as _eventually

CLI = str(Path(sys.executable).with_name("tenantmail"))
CHROMIUM = os.environ.get("TENANTMAIL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = os.environ.get("TENANTMAIL_CONSOLE_SCREENSHOTS")
AXE = Path(__file__).with_name("vendor") / "axe-core-4.14.1" / "axe.min.js"
#: The vendored axe-core is exactly the npm registry's axe-core@4.14.1 (``npm pack axe-core@4.14.1``).
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"

try:
    import playwright.sync_api  # noqa: F401

    _MISSING = None if CHROMIUM else "chromium is not installed (apt-get install -y chromium)"
except ImportError:  # pragma: no cover - the test extra pins it
    _MISSING = "Playwright is not installed (pip install -r requirements-dev.lock)"


def pytest_report_header(config: pytest.Config) -> str:
    return f"tenantmail: browser tests {'SKIPPED — ' + _MISSING if _MISSING else 'on ' + str(CHROMIUM)}"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    if _MISSING and not UNDER_CI:
        terminalreporter.write_line(f"NOTE: the console browser tests were SKIPPED: {_MISSING}.", yellow=True, bold=True)


@pytest.fixture(scope="session")
def chromium() -> str:
    if _MISSING:
        if UNDER_CI:
            pytest.fail(f"the console browser tests are required under CI=true: {_MISSING}")
        pytest.skip(f"console browser tests skipped: {_MISSING}")
    assert hashlib.sha256(AXE.read_bytes()).hexdigest() == AXE_SHA256, "the vendored axe-core was changed"
    return str(CHROMIUM)


# --- the service ---------------------------------------------------------------------------------


@dataclass
class Service:
    """A running `tenantmail serve` and the clients a test needs around the browser."""

    backend: str
    base_url: str  #: http://127.0.0.1:port
    api_prefix: str
    postmark_url: str
    account_token: str

    def api(self, tenant: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url + self.api_prefix, timeout=30, headers={
            "Authorization": f"Bearer {TEST_API_KEY}", "X-Tenant-Id": tenant, "X-Author": "browser-tests"})

    def sandbox(self) -> httpx.Client:
        """The emulator's control API (recipient rules, faults, deleting a server behind our back)."""
        return httpx.Client(base_url=f"{self.postmark_url}/_sandbox", timeout=30,
                            headers={"X-Postmark-Account-Token": self.account_token})


def _fresh_database(backend: str, tmp: Path) -> tuple[str, Callable[[], None]]:
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'console.sqlite3'}", lambda: None
    name = f"tenantmail_browser_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    return _pg_url(name), lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=_backend_params())
def service(request: pytest.FixtureRequest, chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    backend = str(request.param)
    tmp = tmp_path_factory.mktemp(f"console-{backend}")
    url, drop = _fresh_database(backend, tmp)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTMAIL_")}
    env.update({
        "TENANTMAIL_DATABASE_URL": url, "TENANTMAIL_VAR_DIR": str(tmp / "var"), "TENANTMAIL_API_KEYS": TEST_API_KEY,
        "TENANTMAIL_PORT": str(port), "TENANTMAIL_SANDBOX_POSTMARK_PORT": "0", "TENANTMAIL_SANDBOX_ROUTE53_PORT": "0",
        "TENANTMAIL_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "TENANTMAIL_VERIFICATION_POLL_SECONDS": "0.5",
        "TENANTMAIL_WORKER_POLL_SECONDS": "0.1", "TENANTMAIL_LOG_FORMAT": "json",
        "TENANTMAIL_SEND_RETRY_BASE_SECONDS": "0.05",  # a configuration error reaches FAILURE in a second
        # POST /job would refuse the hostile message body outright (reject, the default, D21): sanitize
        # lets it be queued, cleaned; the console still shows every stored body sandboxed (D22)
        "TENANTMAIL_HTML_POLICY": "sanitize",
    })
    subprocess.run([CLI, "migrate"], env=env, check=True, capture_output=True, timeout=120)
    log = (tmp / "serve.log").open("w")
    proc = subprocess.Popen([CLI, "serve"], env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        eventually(lambda: _healthy(base, proc), timeout=120)
        endpoints = json.loads((tmp / "var" / "endpoints.json").read_text())
        prefix = endpoints["api"].removeprefix(base)
        token = (tmp / "var" / "sandbox-account-token").read_text().strip()
        yield Service(backend, base, prefix, endpoints["postmark"], token)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        drop()


def _healthy(base: str, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        raise RuntimeError(f"tenantmail serve exited with {proc.returncode}")
    try:
        return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def eventually(probe: Callable[[], Any], timeout: float = 60) -> Any:
    """``tests.sandbox_fixtures.eventually`` at a gentler pace: 5 probes a second (each may be an
    HTTP round trip or a page load on a shared 2-core machine)."""
    return _eventually(lambda: probe() or time.sleep(0.2), timeout=timeout)


# --- the browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """One headless chromium for the whole module (the installed Debian binary, nothing downloaded)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def login(page: Any, operator: str = "ada") -> None:
    page.goto("/console/login")
    page.get_by_label("API key").fill(TEST_API_KEY)
    page.get_by_label("Your name").fill(operator)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/console/")


@pytest.fixture
def page(browser: Any, service: Service) -> Iterator[Any]:
    """A logged-in operator's tab with JavaScript OFF: every flow must work without it."""
    context = browser.new_context(base_url=service.base_url, java_script_enabled=False,
                                  viewport={"width": 1280, "height": 860})
    context.set_default_timeout(30_000)
    tab = context.new_page()
    login(tab)
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture(scope="module")
def axe_tab(browser: Any) -> Iterator[Any]:
    """A scripted tab where axe-core examines the HTML the operator's tab shows."""
    context = browser.new_context(java_script_enabled=True, viewport={"width": 1280, "height": 860})
    try:
        yield context.new_page()
    finally:
        context.close()


_REFRESH = re.compile(r'<meta http-equiv="refresh"[^>]*>')
SERIOUS = ("serious", "critical")


@pytest.fixture
def accessible(axe_tab: Any) -> Callable[[Any], None]:
    """``accessible(page)``: axe-core (WCAG 2.x A/AA rules and best practices) finds no serious or
    critical violation in what ``page`` shows now (its HTML and inline styles, frames left out)."""
    source = AXE.read_text()

    def check(page: Any) -> None:
        axe_tab.set_content(_REFRESH.sub("", page.content()))
        axe_tab.evaluate(source)
        result = axe_tab.evaluate("() => axe.run(document, {iframes: false, resultTypes: ['violations']})")
        found = [v for v in result["violations"] if v["impact"] in SERIOUS]
        assert not found, f"{page.url}: " + "; ".join(
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}" for v in found)

    return check


@pytest.fixture
def screenshot(service: Service) -> Callable[[Any, str], None]:
    """``screenshot(page, name)``: saved as docs' ``{name}.png`` when screenshots are asked for
    (SQLite run only: one picture per page)."""

    def take(page: Any, name: str) -> None:
        if SCREENSHOTS and service.backend == "sqlite":
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)

    return take
