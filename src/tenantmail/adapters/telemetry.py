"""One door for telemetry: a named event becomes a JSON log line, a Prometheus metric and, when
asked, a Sentry event (SPEC §10).

``emit("email.send.attempt", labels={"outcome": "accepted"}, job_id=...)`` logs
``{"event": "email.send.attempt", "outcome": "accepted", "job_id": ..., <bound ids>}`` and
increments ``email_send_attempt_total{outcome="accepted"}``. Labels are the low-cardinality
dimensions (they become Prometheus labels and also appear in the log line); other fields go to the
log only, so a job id never explodes a metric's cardinality.

Secrets never leave through here: every field, Sentry event and stdlib log record passes through
:func:`redact`, which masks values under secret-looking keys (tokens, passwords, bodies,
attachments...) and any pydantic ``SecretStr``.

Tests read events with ``structlog.testing.capture_logs()`` and metrics with
``CollectorRegistry.get_sample_value``; give each test a fresh ``CollectorRegistry``.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import weakref
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any, TextIO

import sentry_sdk
import structlog
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase
from pydantic import SecretBytes, SecretStr
from sentry_sdk.transport import Transport

REDACTED = "[REDACTED]"

#: A key containing one of these is a credential, whatever its prefix (``server_token``,
#: ``X-Postmark-Server-Token``, ``webhook_password``...).
_SECRET_KEY_PARTS = ("token", "secret", "password", "passwd", "authorization", "api_key",
                     "apikey", "credential", "cookie")
#: Message content: never logged, it is the tenant's customers' mail.
_CONTENT_KEYS = frozenset({"body", "html_body", "text_body", "htmlbody", "textbody",
                           "attachments", "content", "content_base64"})

LEVELS = ("debug", "info", "warning", "error", "critical")
_LEVEL_NUMBERS = {name: logging.getLevelNamesMapping()[name.upper()] for name in LEVELS}
_SENTRY_LEVELS = {"critical": "fatal"}  # Sentry's name for the top level; the others match
_METRIC_NAME = re.compile(r"[^a-zA-Z0-9_]")


class ProgrammingError(Exception):
    """Telemetry used inconsistently (a metric re-declared with other labels or another kind)."""


# ---------------------------------------------------------------------------------------------
# Redaction
# ---------------------------------------------------------------------------------------------


def is_secret_key(key: str) -> bool:
    """Whether a field named ``key`` may hold a credential or message content."""
    normalized = key.lower().replace("-", "_")
    return (
        normalized in _CONTENT_KEYS
        or normalized.endswith("_body")
        or any(part in normalized for part in _SECRET_KEY_PARTS)
    )


def redact(value: Any) -> Any:
    """A copy of ``value`` with secrets masked, recursing through mappings, lists and tuples."""
    if isinstance(value, SecretStr | SecretBytes):
        return REDACTED
    if isinstance(value, Mapping):
        return {
            key: REDACTED if isinstance(key, str) and is_secret_key(key) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> Mapping[str, Any]:
    """structlog processor form of :func:`redact`, last line of defence for every log call."""
    return redact(event_dict)


# ---------------------------------------------------------------------------------------------
# Logging and Sentry set-up (called once by an entry point)
# ---------------------------------------------------------------------------------------------


#: The lowest level configure_logging lets through (everything until it is called, as structlog's
#: default does): emit() skips building a line nobody will write, the hot paths' debug events.
_enabled_from = logging.NOTSET


def configure_logging(level: str, json: bool | None, *, stream: TextIO | None = None) -> None:
    """Send structlog and stdlib logging (uvicorn included) as one stream of redacted lines.

    JSON lines with ISO-8601 UTC timestamps when ``json``, a readable console format otherwise;
    ``json=None`` picks the console format on a terminal and JSON elsewhere (a log collector).
    Calling it again replaces the previous set-up (tests pass their own ``stream``).
    """
    global _enabled_from
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    _enabled_from = numeric_level
    output = stream or sys.stdout
    if json is None:
        json = not _is_terminal(output)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_processor,
    ]
    renderer = (structlog.processors.JSONRenderer() if json
                else structlog.dev.ConsoleRenderer(colors=_is_terminal(output)))
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.WriteLoggerFactory(file=output),
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging(numeric_level, output, shared, renderer)


def _route_stdlib_logging(level: int, output: TextIO, shared: list[Any], renderer: Any) -> None:
    """Make stdlib records (uvicorn, alembic, httpx) go through the same processors."""
    handler = logging.StreamHandler(output)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    ))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # One line per HTTP request (served, or made to Postmark and Route 53) is noise next to our
    # own events, which already say what each call was for and how it ended.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


#: Libraries that log every request at INFO; they speak from WARNING up.
QUIET_LOGGERS = ("uvicorn.access", "httpx", "httpcore", "botocore", "urllib3")


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-like stream without a terminal
        return False


def init_sentry(
    dsn: str | None, environment: str, release: str, *, transport: Transport | None = None
) -> bool:
    """Start the Sentry client; a no-op returning False without a DSN.

    ``environment`` is the partition. ``transport`` lets tests capture events with a real client.
    No PII: sentry-sdk 2.75 deprecates passing ``send_default_pii=False`` and already defaults
    to it (with its own event scrubber), so it is left unset; ``before_send`` redacts on top.
    """
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn, environment=environment, release=release,
        before_send=_redact_sentry_event, transport=transport,
    )
    return True


def _redact_sentry_event(event: Any, _hint: Any) -> Any:
    """Sentry ``before_send``: the whole event (extras, frame locals, request) goes through redact."""
    return redact(event)


# ---------------------------------------------------------------------------------------------
# Context ids carried by every line
# ---------------------------------------------------------------------------------------------


def bind_context(**ids: Any) -> None:
    """Attach ids (request_id, tenant_id, configuration_eid, job_id...) to every following line."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in ids.items() if v is not None})


def clear_context() -> None:
    """Forget every bound id (at the end of a request or job)."""
    structlog.contextvars.clear_contextvars()


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


class _MetricTable:
    """The metrics created in one registry: name -> (kind, label names, metric)."""

    def __init__(self) -> None:
        self._metrics: dict[str, tuple[type[MetricWrapperBase], tuple[str, ...], MetricWrapperBase]] = {}
        self._lock = threading.Lock()

    def child(
        self, registry: CollectorRegistry, kind: type[MetricWrapperBase], name: str,
        labels: Mapping[str, str], documentation: str,
    ) -> Any:
        """The metric ``name`` for these label values, created on first use."""
        metric = self._declared(registry, kind, name, tuple(sorted(labels)), documentation)
        return metric.labels(**{k: str(v) for k, v in labels.items()}) if labels else metric

    def _declared(
        self, registry: CollectorRegistry, kind: type[MetricWrapperBase], name: str,
        labelnames: tuple[str, ...], documentation: str,
    ) -> MetricWrapperBase:
        with self._lock:
            found = self._metrics.get(name)
            if found is None:
                metric = kind(name, documentation, labelnames, registry=registry)
                self._metrics[name] = (kind, labelnames, metric)
                return metric
        found_kind, found_labels, metric = found
        if found_kind is not kind or found_labels != labelnames:
            raise ProgrammingError(
                f"metric {name!r} was declared as {found_kind.__name__}{list(found_labels)}, "
                f"now used as {kind.__name__}{list(labelnames)}; an event keeps its label names"
            )
        return metric


# Shared by every Telemetry on the same registry, so building two (an app and a worker in one
# process, or a test building the app twice) never registers a metric twice.
_TABLES: weakref.WeakKeyDictionary[CollectorRegistry, _MetricTable] = weakref.WeakKeyDictionary()
_TABLES_LOCK = threading.Lock()


def _table_for(registry: CollectorRegistry) -> _MetricTable:
    with _TABLES_LOCK:
        return _TABLES.setdefault(registry, _MetricTable())


def metric_name(name: str) -> str:
    """Prometheus spelling of an event name: ``email.send.attempt`` -> ``email_send_attempt``."""
    return _METRIC_NAME.sub("_", name)


# ---------------------------------------------------------------------------------------------
# The facade
# ---------------------------------------------------------------------------------------------


class Telemetry:
    """Implements ``services.ports.Telemetry``: events, gauges and latency histograms.

    ``registry`` None means prometheus_client's default registry (what ``/metrics`` serves).
    ``environment`` is the partition; it reaches Sentry as the event's environment, never as a field.
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, *, sentry_enabled: bool = False,
        environment: str = "dev",
    ) -> None:
        self._registry = registry if registry is not None else REGISTRY
        self._metrics = _table_for(self._registry)
        self._sentry_enabled = sentry_enabled
        self._environment = environment
        self._log = structlog.get_logger("tenantmail")

    @property
    def registry(self) -> CollectorRegistry:
        return self._registry

    def emit(
        self, event: str, *, labels: Mapping[str, str] | None = None, level: str = "info",
        sentry: bool = False, fingerprint: Sequence[str] | None = None, **fields: Any,
    ) -> None:
        """Log ``event`` with labels and fields, count it, and report it to Sentry if asked."""
        if level not in _LEVEL_NUMBERS:
            raise ProgrammingError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
        labels = dict(labels or {})
        self._metrics.child(
            self._registry, Counter, metric_name(event), labels, f"Occurrences of the {event} event."
        ).inc()
        logged = _LEVEL_NUMBERS[level] >= _enabled_from
        reported = sentry and self._sentry_enabled
        if logged or reported:
            payload = redact({**labels, **fields})
            if logged:
                getattr(self._log, level)(event, **payload)
            if reported:
                self._capture(event, level, fingerprint, labels, payload)

    def set_gauge(self, name: str, value: float, *, labels: Mapping[str, str] | None = None) -> None:
        """Set a gauge, e.g. configurations per state: ``set_gauge("email.configuration.state", 3,
        labels={"operational": "VERIFIED", "administrative": "UNLOCKED"})``."""
        self._metrics.child(
            self._registry, Gauge, metric_name(name), labels or {}, f"Current {name}."
        ).set(value)

    def observe(self, name: str, seconds: float, *, labels: Mapping[str, str] | None = None) -> None:
        """Record a duration in the histogram ``{name}_seconds`` (e.g. ``email.send.latency``)."""
        base = metric_name(name)
        self._metrics.child(
            self._registry, Histogram, base if base.endswith("_seconds") else f"{base}_seconds",
            labels or {}, f"Duration of {name}, in seconds.",
        ).observe(seconds)

    def _capture(
        self, event: str, level: str, fingerprint: Sequence[str] | None,
        labels: Mapping[str, str], extra: Mapping[str, Any],
    ) -> None:
        """One Sentry event; the bound ids become tags so issues can be searched by tenant or job."""
        context = {k: str(v) for k, v in structlog.contextvars.get_contextvars().items()}
        sentry_event: dict[str, Any] = {
            "message": event,
            "level": _SENTRY_LEVELS.get(level, level),
            "environment": self._environment,
            "tags": {**context, **labels, "event": event},
            "extra": dict(extra),
        }
        if fingerprint:
            sentry_event["fingerprint"] = list(fingerprint)
        sentry_sdk.capture_event(sentry_event)
