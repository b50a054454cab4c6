"""One typed Settings object, read from ``TENANTMAIL_*`` environment variables and an optional ``.env``.

Built once by an entry point and passed down; tests build ``Settings(database_url=...)`` directly.
Secrets are ``SecretStr`` so they never show in logs, errors or ``repr``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, computed_field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAIL_ROOT = "ardamails.com"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of tenantmail. Names are fixed by SPEC §1; all carry the ``TENANTMAIL_`` prefix."""

    model_config = SettingsConfigDict(
        env_prefix="TENANTMAIL_", env_file=".env", extra="ignore", validate_default=True,
        env_ignore_empty=True,  # VAR= (as compose writes an unset ${VAR:-}) means "not set"
    )

    # --- process and storage -------------------------------------------------------------
    var_dir: Path = Path("var")
    database_url: str = ""  # empty: sqlite file under var_dir
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_prefix: str = "/v1/shop-access/email"
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # request bodies, enforced while reading (SPEC §14): sends with attachments, the webhook, the batch
    max_body_bytes: int = Field(12 * 1024 * 1024, ge=1024)
    max_webhook_bytes: int = Field(1024 * 1024, ge=1024)
    max_batch_bytes: int = Field(50 * 1024 * 1024, ge=1024)  # POST /job/batch: Postmark's batch limit

    # --- partition -----------------------------------------------------------------------
    partition: str = "dev"
    mail_zone_name: str = ""  # empty: {partition}.ardamails.com
    mail_zone_id: str = ""  # empty: looked up / created by name on the local Route 53
    live_partitions: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["demo", "prod"])
    public_base_url: str = ""  # empty: http://{host}:{port}

    # --- Postmark and Route 53 -------------------------------------------------------------
    postmark_base_url: str = ""  # empty: the built-in sandbox
    postmark_account_token: SecretStr | None = None
    postmark_timeout_seconds: float = Field(10.0, gt=0)
    route53_endpoint_url: str = ""  # empty with the sandbox: the local moto endpoint
    sandbox_postmark_port: int = Field(8100, ge=0, le=65535)  # 0: any free port
    sandbox_route53_port: int = Field(8101, ge=0, le=65535)
    aws_region: str = "us-east-1"

    # --- keys ------------------------------------------------------------------------------
    key_registry_file: Path | None = None  # None: generated under var_dir

    # --- telemetry -------------------------------------------------------------------------
    sentry_dsn: SecretStr | None = None
    log_level: str = "INFO"
    log_format: Literal["console", "json"] | None = None  # None: console on a terminal, json otherwise

    # --- background work -------------------------------------------------------------------
    verification_poll_seconds: float = Field(30.0, gt=0)
    verification_timeout_hours: float = Field(24.0, gt=0)
    drift_interval_minutes: float = Field(15.0, gt=0)
    drift_assertions: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "postmark_orphan_db_row",
            "postmark_orphan_server",
            "postmark_orphan_domain",
            "registry_missing_key",
            "dns_missing_record",
            "dns_value_mismatch",
        ]
    )
    failure_threshold: int = Field(5, ge=1)
    send_retry_base_seconds: float = Field(2.0, gt=0)
    send_retry_cap_seconds: float = Field(300.0, gt=0)
    send_give_up_hours: float = Field(24.0, gt=0)
    dispatch_batch_size: int = Field(500, ge=1, le=500)
    worker_poll_seconds: float = Field(0.5, gt=0)  # the fallback when no wake-up arrives (SPEC §16)
    dispatch_concurrency: int = Field(4, ge=1, le=64)  # dispatch passes (Postmark calls) in flight per worker
    dispatch_push: bool = True  # wake dispatch on new jobs (LISTEN/NOTIFY, in-process event); off: polling only
    dispatch_fair: bool = True  # claims round-robin across configurations; off: oldest due first
    worker_port: int = Field(8001, ge=0, le=65535)  # a worker's /healthz, /readyz, /metrics (0: any free)
    lease_seconds: float = Field(60.0, gt=0)
    idempotency_ttl_hours: float = Field(24.0, gt=0)
    # notifications to calling services (SPEC §17, decisions D20)
    notification_timeout_seconds: float = Field(5.0, gt=0)  # one attempt's whole HTTP exchange
    notification_retry_base_seconds: float = Field(5.0, gt=0)
    notification_retry_cap_seconds: float = Field(3600.0, gt=0)
    notification_give_up_hours: float = Field(24.0, gt=0)
    notification_concurrency: int = Field(32, ge=1, le=1000)  # attempts in flight per worker
    notification_lease_seconds: float = Field(60.0, gt=0)
    notification_log_days: float = Field(7.0, gt=0)  # delivered/failed notifications kept this long
    #: htmlBody outside the allow-list (SPEC §17 "HTML hardening"): "reject" → 400 naming what
    #: would be removed; "sanitize" → the sanitizer's output is sent and the job says so
    html_policy: Literal["reject", "sanitize"] = "reject"
    #: per-tenant send quotas (SPEC §17 "Quotas"): the defaults a tenant's overrides
    #: (PUT /tenant-limits) replace; enforced across every API process through the database
    quotas_enabled: bool = True
    quota_sends_per_second: float = Field(100.0, gt=0)
    quota_burst: int = Field(1000, ge=1)
    quota_sends_per_day: int = Field(1_000_000, ge=1)
    embedded_worker: bool | None = None  # None: on when the sandbox is used (embedded default)

    # --- validators ------------------------------------------------------------------------
    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys_csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("live_partitions", "drift_assertions", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("partition")
    @classmethod
    def _partition_is_dns_label(cls, value: str) -> str:
        if not DNS_LABEL.match(value):
            raise ValueError("must be a DNS label (lower-case letters, digits, inner hyphens)")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return value

    @field_validator("api_prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        if not value.startswith("/") or value.endswith("/"):
            raise ValueError("must start with '/' and not end with '/'")
        return value

    @field_validator("postmark_base_url", "public_base_url", "route53_endpoint_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("api_keys")
    @classmethod
    def _keys_long_enough(cls, value: list[SecretStr]) -> list[SecretStr]:
        for key in value:
            if len(key.get_secret_value()) < 16:
                raise ValueError("every API key must be at least 16 characters")
        return value

    @field_validator("drift_assertions")
    @classmethod
    def _known_assertions(cls, value: list[str]) -> list[str]:
        known = set(cls.model_fields["drift_assertions"].default_factory())  # type: ignore[misc]
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown drift assertion(s): {', '.join(unknown)}")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return upper

    @model_validator(mode="after")
    def _notification_lease_outlasts_an_attempt(self) -> Settings:
        if self.notification_lease_seconds < 2 * self.notification_timeout_seconds:
            raise ValueError(
                "TENANTMAIL_NOTIFICATION_LEASE_SECONDS must be at least 2 × TENANTMAIL_NOTIFICATION_TIMEOUT_SECONDS "
                f"({2 * self.notification_timeout_seconds:g})"
            )
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_dispatch_pass(self) -> Settings:
        # A dispatch pass makes at most two rounds of Postmark calls (searches, then the send);
        # a lease shorter than that could let another worker reclaim a job whose call is in flight.
        if self.lease_seconds < 3 * self.postmark_timeout_seconds:
            raise ValueError(
                "TENANTMAIL_LEASE_SECONDS must be at least 3 × TENANTMAIL_POSTMARK_TIMEOUT_SECONDS "
                f"({3 * self.postmark_timeout_seconds:g})"
            )
        return self

    # --- derived values --------------------------------------------------------------------
    @computed_field  # type: ignore[prop-decorator]
    @property
    def uses_sandbox(self) -> bool:
        return not self.postmark_base_url

    @computed_field  # type: ignore[prop-decorator]
    @property
    def is_live(self) -> bool:
        return self.partition in self.live_partitions

    @property
    def effective_mail_zone_name(self) -> str:
        return self.mail_zone_name or f"{self.partition}.{MAIL_ROOT}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.var_dir / 'tenantmail.sqlite3'}"

    @property
    def effective_public_base_url(self) -> str:
        return self.public_base_url or f"http://{self.host}:{self.port}"

    @property
    def log_json(self) -> bool | None:
        """JSON log lines or not; None (no format given): JSON unless the log stream is a terminal."""
        return None if self.log_format is None else self.log_format == "json"

    @property
    def runs_embedded_worker(self) -> bool:
        return self.uses_sandbox if self.embedded_worker is None else self.embedded_worker

    @property
    def webhook_url(self) -> str:
        return f"{self.effective_public_base_url}{self.api_prefix}/job/postmark-events"


class SettingsError(Exception):
    """Start-up refused: one line per bad setting, naming it by its environment variable."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


def port_taken(host: str, port: int, reason: str, setting: str) -> SettingsError:
    """The one line for a port that cannot be listened on, naming the setting that moves it."""
    return SettingsError([f"port {port} on {host} is taken ({reason}): set {setting} to a free port"])


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning pydantic's report into one clear line per bad variable.

    ``TENANTMAIL_SECRETS_DIR`` (e.g. ``/run/secrets``): any setting may also come from a file there
    named after its variable in lower case (``tenantmail_api_keys``...), as container secrets are
    mounted; the environment wins over a file."""
    secrets_dir = os.environ.get("TENANTMAIL_SECRETS_DIR")
    if secrets_dir and not Path(secrets_dir).is_dir():
        raise SettingsError([f"invalid setting TENANTMAIL_SECRETS_DIR: {secrets_dir} is not a directory"])
    try:
        return Settings(_secrets_dir=secrets_dir or None, **overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["loc"]:
                lines.append(f"invalid setting TENANTMAIL_{str(err['loc'][0]).upper()}: {message}")
            else:  # a rule across settings names them itself
                lines.append(f"invalid settings: {message}")
        raise SettingsError(lines) from None
