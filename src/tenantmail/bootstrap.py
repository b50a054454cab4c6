"""Wiring, in one place: build every adapter and the service context from Settings.

This is the only module that chooses between the built-in sandbox and the real Postmark and
Route 53, and between generating local secrets (embedded default) and requiring them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import structlog
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail import __version__
from tenantmail.adapters.cipher import AesGcmTokenCipher
from tenantmail.adapters.db.engine import create_engine
from tenantmail.adapters.db.intake import Intake, open_intake
from tenantmail.adapters.db.housekeeping import DatabaseHousekeeping
from tenantmail.adapters.db.job_wakeup import LocalJobWakeup, PostgresJobListener
from tenantmail.adapters.db.migrate import ensure_up_to_date, upgrade
from tenantmail.adapters.db.notification_queue import DatabaseNotificationQueue
from tenantmail.adapters.notification_sender import HttpNotificationSender
from tenantmail.adapters.db.repositories.drift_reports import DriftReportRepository
from tenantmail.adapters.db.scans import ConfigurationScans
from tenantmail.adapters.db.unit_of_work import UnitOfWork
from tenantmail.adapters.db.work_queue import DatabaseWorkQueue
from tenantmail.adapters.keyregistry import KeyRegistry, generate_registry_file
from tenantmail.adapters.local_endpoints import LocalEndpoints
from tenantmail.adapters.postmark.client import PostmarkClient
from tenantmail.adapters.route53 import DnsError, Route53DnsGateway
from tenantmail.adapters.telemetry import Telemetry, init_sentry
from tenantmail.adapters.webhook_secrets import DerivedWebhookSecrets
from tenantmail.entrypoints.api.notification_views import ApiViews
from tenantmail.services.context import ServiceContext
from tenantmail.services.ports.notifications import NotificationViews
from tenantmail.settings import Settings, SettingsError, port_taken

if TYPE_CHECKING:  # the sandbox (and moto) are the `tenantmail[sandbox]` extra: imported only to run it
    from tenantmail.sandbox.runner import RunningSandbox

log = structlog.get_logger("tenantmail.bootstrap")

API_KEY_FILE = "api-key"
REGISTRY_FILE = "keys.json"
SANDBOX_TOKEN_FILE = "sandbox-account-token"
SANDBOX_STATE_DIR = "sandbox"
REGISTRY_WATCH_SECONDS = 5.0


@dataclass
class Container:
    """Everything a running process holds (the dependency container; FastAPI's app is another
    thing). Entry points use ``ctx`` for services."""

    settings: Settings
    engine: AsyncEngine
    ctx: ServiceContext
    api_keys: list[SecretStr]
    registry: KeyRegistry
    metrics_registry: CollectorRegistry
    postmark: PostmarkClient
    zone_id: str | None  #: None: looked up by name on the first DNS call
    sandbox: RunningSandbox | None = None
    generated_api_key: str | None = field(default=None, repr=False)
    intake: Intake | None = field(default=None, repr=False)  #: the hot paths' group commit and its connections
    notification_sender: HttpNotificationSender | None = field(default=None, repr=False)
    _registry_watch: asyncio.Task[None] | None = field(default=None, repr=False)

    def watch_registry(self) -> None:
        """Re-read the key registry file every few seconds in the background, so a rotation (and
        its ``email.material_registry.refresh.*`` events) lands even on an idle process; busy
        paths also refresh on use."""
        self._registry_watch = asyncio.create_task(self.registry.watch(REGISTRY_WATCH_SECONDS))

    def uow(self, tenant_id: str) -> UnitOfWork:
        return UnitOfWork(self.engine, tenant_id)

    @property
    def telemetry(self) -> Telemetry:
        return self.ctx.telemetry  # type: ignore[return-value]

    async def aclose(self) -> None:
        if self._registry_watch is not None:
            self._registry_watch.cancel()
        if self.ctx.wakeup is not None:
            await self.ctx.wakeup.close()
        await self.postmark.aclose()
        if self.notification_sender is not None:
            await self.notification_sender.aclose()
        if self.intake is not None:
            await self.intake.close()
        await self.engine.dispose()
        if self.sandbox is not None:
            await asyncio.to_thread(self.sandbox.stop)


def notification_views() -> NotificationViews:
    """A notification's ``data`` is what the API answers for its subject: the API's own views."""
    return ApiViews()


def is_embedded(settings: Settings) -> bool:
    """The offline default: no database URL and no Postmark URL given."""
    return settings.uses_sandbox and not settings.database_url


def _api_keys(settings: Settings) -> tuple[list[SecretStr], str | None]:
    if settings.api_keys:
        return settings.api_keys, None
    if not settings.uses_sandbox:
        raise SettingsError(["invalid setting TENANTMAIL_API_KEYS: required outside the sandbox"])
    key = _local_secret(settings.var_dir / API_KEY_FILE, "tm_")
    return [SecretStr(key)], key


def _registry_path(settings: Settings) -> Path:
    if settings.key_registry_file is not None:
        if not settings.key_registry_file.exists():
            raise SettingsError([
                f"invalid setting TENANTMAIL_KEY_REGISTRY_FILE: {settings.key_registry_file} does not exist"
            ])
        return settings.key_registry_file
    if not settings.uses_sandbox:
        raise SettingsError(["invalid setting TENANTMAIL_KEY_REGISTRY_FILE: required outside the sandbox"])
    path = settings.var_dir / REGISTRY_FILE
    try:
        generate_registry_file(path)
    except FileExistsError:  # created earlier, or by a process starting at the same moment
        pass
    return path


def _local_secret(path: Path, prefix: str) -> str:
    """A secret generated once under ./var/ (mode 0600) and reused by every local process."""
    try:
        _write_private(path, prefix + secrets.token_urlsafe(32))
    except FileExistsError:
        pass
    return path.read_text().strip()


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


#: moto accepts any credentials; the real AWS chain is never consulted against the sandbox.
SANDBOX_AWS_CREDENTIALS = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}


@dataclass(frozen=True)
class Endpoints:
    """Where Postmark and Route 53 are for this process, and the account token to use."""

    postmark_url: str
    account_token: str | None
    route53_url: str | None
    aws_credentials: dict[str, str]
    sandbox: RunningSandbox | None = None
    zone_id: str | None = None  #: known without asking Route 53 (the sandbox created it)


SANDBOX_EXTRA_MISSING = (
    "the embedded default runs the built-in Postmark sandbox, which is not installed: "
    "pip install 'tenantmail[sandbox]', or set TENANTMAIL_POSTMARK_BASE_URL (and the production settings)"
)
PORT_SETTINGS = {"Postmark": "TENANTMAIL_SANDBOX_POSTMARK_PORT", "Route 53": "TENANTMAIL_SANDBOX_ROUTE53_PORT"}


def _start_sandbox(settings: Settings, token: str) -> RunningSandbox:
    """Start the sandbox of the embedded default: one line (as a SettingsError) when it cannot."""
    try:
        from tenantmail.sandbox.runner import PortInUse, start_sandbox
    except ImportError:
        raise SettingsError([SANDBOX_EXTRA_MISSING]) from None
    try:
        return start_sandbox(
            host=settings.host, postmark_port=settings.sandbox_postmark_port,
            route53_port=settings.sandbox_route53_port, account_token=token,
            state_dir=settings.var_dir / SANDBOX_STATE_DIR, zone_name=settings.effective_mail_zone_name,
        )
    except PortInUse as exc:
        raise port_taken(exc.host, exc.port, exc.reason, f"{PORT_SETTINGS[exc.role]} (0 picks one)") from None


async def _endpoints(settings: Settings, *, start: bool) -> Endpoints:
    """The real services, or the sandbox: started here (``start``) or the one `serve` runs.

    The sandbox inside `serve` listens on fixed ports so other local processes (CLI, workers)
    reach that one, with the account token it was started with (kept under ./var/).
    """
    if not settings.uses_sandbox:
        token = settings.postmark_account_token
        return Endpoints(
            settings.postmark_base_url, token.get_secret_value() if token else None,
            settings.route53_endpoint_url or None, {},
        )
    token = _local_secret(settings.var_dir / SANDBOX_TOKEN_FILE, "sandbox-")
    if not start:
        running = LocalEndpoints.read(settings.var_dir)  # the `serve` of this var dir, wherever it listens
        return Endpoints(
            running.postmark if running else f"http://{settings.host}:{settings.sandbox_postmark_port}",
            token,
            settings.route53_endpoint_url or (
                running.route53 if running else f"http://{settings.host}:{settings.sandbox_route53_port}"),
            SANDBOX_AWS_CREDENTIALS, zone_id=running.zone_id if running else None,
        )
    sandbox = await asyncio.to_thread(_start_sandbox, settings, token)
    return Endpoints(
        sandbox.base_url, token, settings.route53_endpoint_url or sandbox.route53_endpoint_url,
        SANDBOX_AWS_CREDENTIALS, sandbox,
    )


def _known_zone_id(settings: Settings, endpoints: Endpoints) -> str | None:
    if settings.mail_zone_id:
        return settings.mail_zone_id
    if endpoints.sandbox is not None:
        return endpoints.sandbox.zone_id
    return endpoints.zone_id


def _check_zone(settings: Settings, dns: Route53DnsGateway) -> str:
    try:
        return dns.zone_id
    except DnsError as exc:
        raise SettingsError([
            f"invalid setting TENANTMAIL_MAIL_ZONE_ID: not given, and looking up "
            f"{settings.effective_mail_zone_name} failed ({exc})"
        ]) from None


async def _engine(settings: Settings, migrate: bool | None) -> AsyncEngine:
    engine = create_engine(settings.effective_database_url)
    try:
        if migrate if migrate is not None else is_embedded(settings):
            await upgrade(engine)
        else:
            await ensure_up_to_date(engine)
    except BaseException:
        await engine.dispose()
        raise
    return engine


def _wakeup(settings: Settings, engine: AsyncEngine) -> LocalJobWakeup | None:
    """Dispatch's wake-up (SPEC §16): LISTEN on PostgreSQL (opened when a dispatch loop starts, so
    API processes never open it), an in-process event on SQLite; None: polling only."""
    if not settings.dispatch_push:
        return None
    if engine.dialect.name == "postgresql":
        return PostgresJobListener(settings.effective_database_url)
    return LocalJobWakeup()


async def bootstrap(
    settings: Settings, *, migrate: bool | None = None, with_sandbox: bool = True,
    postmark_transport: httpx.AsyncBaseTransport | None = None, metrics_registry: CollectorRegistry | None = None,
    resolve_zone: bool = True,
) -> Container:
    """Build the process's Container. ``migrate`` None: migrate in the embedded default, else require it.

    ``resolve_zone`` False: a mail zone not known by id is looked up on the first DNS call rather
    than now (CLI commands, most of which never touch DNS)."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    api_keys, generated = _api_keys(settings)
    metrics = metrics_registry or CollectorRegistry()
    init_sentry(
        settings.sentry_dsn.get_secret_value() if settings.sentry_dsn else None,
        environment=settings.partition, release=__version__,
    )
    telemetry = Telemetry(metrics, sentry_enabled=settings.sentry_dsn is not None, environment=settings.partition)
    registry = KeyRegistry(_registry_path(settings), telemetry)
    engine = await _engine(settings, migrate)
    try:
        endpoints = await _endpoints(settings, start=with_sandbox and postmark_transport is None)
        zone_id = _known_zone_id(settings, endpoints)
        dns = Route53DnsGateway(
            zone_id, endpoint_url=endpoints.route53_url, region=settings.aws_region,
            zone_name=settings.effective_mail_zone_name, **endpoints.aws_credentials,
        )
        if zone_id is None and resolve_zone:
            zone_id = await asyncio.to_thread(_check_zone, settings, dns)
    except BaseException:
        await engine.dispose()
        raise
    postmark = PostmarkClient(
        endpoints.postmark_url, endpoints.account_token,
        timeout=settings.postmark_timeout_seconds, transport=postmark_transport,
    )
    wakeup = _wakeup(settings, engine)
    intake = open_intake(engine, settings.effective_database_url, telemetry,
                         wake=(lambda _channel: wakeup.notify()) if wakeup is not None else None,
                         wake_dispatch=settings.dispatch_push)
    owner = worker_identity()
    sender = HttpNotificationSender(timeout_seconds=settings.notification_timeout_seconds,
                                    user_agent=f"tenantmail/{__version__} (notifications)")
    ctx = ServiceContext(
        settings=settings,
        uow=lambda tenant: UnitOfWork(engine, tenant),
        send_store=intake.sends,
        event_store=intake.events,
        postmark=postmark,
        dns=dns,
        cipher=AesGcmTokenCipher(registry),
        webhook_secrets=DerivedWebhookSecrets(registry),
        telemetry=telemetry,
        work=DatabaseWorkQueue(engine, owner=owner, lease_seconds=settings.lease_seconds),
        scans=ConfigurationScans(engine),
        drift_reports=DriftReportRepository(engine),
        housekeeping=DatabaseHousekeeping(engine),
        wakeup=wakeup,
        notification_queue=DatabaseNotificationQueue(
            engine, owner=owner, lease_seconds=settings.notification_lease_seconds),
        notification_sender=sender,
        notification_views=notification_views(),
    )
    return Container(
        settings=settings, engine=engine, ctx=ctx, api_keys=api_keys, registry=registry,
        metrics_registry=metrics, postmark=postmark, zone_id=zone_id, sandbox=endpoints.sandbox,
        generated_api_key=generated, intake=intake, notification_sender=sender,
    )
