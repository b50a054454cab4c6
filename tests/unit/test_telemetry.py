"""Telemetry: JSON log lines, Prometheus metrics, redaction and Sentry (SPEC §10)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
import structlog
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from structlog.testing import capture_logs

from tenantmail.adapters.telemetry import (
    REDACTED,
    ProgrammingError,
    Telemetry,
    bind_context,
    clear_context,
    configure_logging,
    init_sentry,
    redact,
)


@pytest.fixture
def metrics() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def telemetry(metrics: CollectorRegistry) -> Telemetry:
    return Telemetry(metrics)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """configure_logging into a buffer; the global structlog and stdlib set-up is put back after."""
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    yield stream
    structlog.configure(**saved_config)
    root.handlers, root.level = saved_handlers, saved_level
    clear_context()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


# --- log lines ---------------------------------------------------------------------------------


def test_emit_writes_one_json_line_with_fields_labels_and_bound_ids(
    telemetry: Telemetry, log_stream: io.StringIO
) -> None:
    bind_context(request_id="req-1", tenant_id="t-1", configuration_eid="c-1", job_id=None)
    telemetry.emit("email.send.attempt", labels={"outcome": "accepted"}, job_id="j-1", attempt=2)
    [line] = lines(log_stream)
    assert line["event"] == "email.send.attempt"
    assert line["outcome"] == "accepted"
    assert (line["job_id"], line["attempt"]) == ("j-1", 2)
    assert (line["request_id"], line["tenant_id"], line["configuration_eid"]) == ("req-1", "t-1", "c-1")
    assert line["level"] == "info"
    assert line["timestamp"].endswith("Z")


def test_cleared_context_is_not_carried_any_more(telemetry: Telemetry, log_stream: io.StringIO) -> None:
    bind_context(request_id="req-1")
    clear_context()
    telemetry.emit("email.webhook.received")
    assert "request_id" not in lines(log_stream)[0]


def test_lines_below_the_configured_level_are_dropped_but_still_counted(
    telemetry: Telemetry, metrics: CollectorRegistry, log_stream: io.StringIO
) -> None:
    telemetry.emit("email.send.retry", level="debug")
    telemetry.emit("email.send.failure", level="error")
    assert [line["event"] for line in lines(log_stream)] == ["email.send.failure"]
    assert metrics.get_sample_value("email_send_retry_total") == 1


def test_stdlib_logging_goes_through_the_same_redacting_pipeline(log_stream: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").warning("started", extra={"authorization": "Bearer abc"})
    [line] = lines(log_stream)
    assert (line["event"], line["logger"], line["level"]) == ("started", "uvicorn.error", "warning")
    assert "Bearer abc" not in log_stream.getvalue()


def test_unknown_level_is_a_programming_error(telemetry: Telemetry) -> None:
    with pytest.raises(ProgrammingError):
        telemetry.emit("email.send.attempt", level="loud")


# --- metrics -----------------------------------------------------------------------------------


def test_counter_is_named_from_the_event_and_counts_per_label(
    telemetry: Telemetry, metrics: CollectorRegistry
) -> None:
    telemetry.emit("email.send.attempt", labels={"outcome": "accepted"})
    telemetry.emit("email.send.attempt", labels={"outcome": "accepted"})
    telemetry.emit("email.send.attempt", labels={"outcome": "transient"})
    assert metrics.get_sample_value("email_send_attempt_total", {"outcome": "accepted"}) == 2
    assert metrics.get_sample_value("email_send_attempt_total", {"outcome": "transient"}) == 1


def test_an_event_must_keep_its_label_names(telemetry: Telemetry) -> None:
    telemetry.emit("email.webhook.rejected", labels={"reason": "malformed"})
    with pytest.raises(ProgrammingError, match="email_webhook_rejected"):
        telemetry.emit("email.webhook.rejected", labels={"cause": "malformed"})
    with pytest.raises(ProgrammingError):
        telemetry.emit("email.webhook.rejected")


def test_a_name_cannot_be_both_counter_and_gauge(telemetry: Telemetry) -> None:
    telemetry.set_gauge("email.configuration.state", 1)
    with pytest.raises(ProgrammingError):
        telemetry.emit("email.configuration.state")


def test_two_telemetry_objects_share_one_registry(metrics: CollectorRegistry) -> None:
    Telemetry(metrics).emit("email.send.attempt", labels={"outcome": "accepted"})
    Telemetry(metrics).emit("email.send.attempt", labels={"outcome": "accepted"})
    assert metrics.get_sample_value("email_send_attempt_total", {"outcome": "accepted"}) == 2


def test_gauge_is_set_per_label_set(telemetry: Telemetry, metrics: CollectorRegistry) -> None:
    labels = {"operational": "VERIFIED", "administrative": "UNLOCKED"}
    telemetry.set_gauge("email.configuration.lifecycle.configurations", 3, labels=labels)
    telemetry.set_gauge("email.configuration.lifecycle.configurations", 2, labels=labels)
    assert metrics.get_sample_value("email_configuration_lifecycle_configurations", labels) == 2


def test_observe_records_a_seconds_histogram(telemetry: Telemetry, metrics: CollectorRegistry) -> None:
    telemetry.observe("email.send.latency", 0.2, labels={"outcome": "accepted"})
    telemetry.observe("email.send.latency", 0.4, labels={"outcome": "accepted"})
    labels = {"outcome": "accepted"}
    assert metrics.get_sample_value("email_send_latency_seconds_count", labels) == 2
    assert metrics.get_sample_value("email_send_latency_seconds_sum", labels) == pytest.approx(0.6)


# --- redaction ---------------------------------------------------------------------------------


def test_redact_masks_secret_keys_content_and_secretstr_at_any_depth() -> None:
    data = {
        "server_token": "tok",
        "headers": {"X-Postmark-Server-Token": "tok", "Authorization": "Bearer x", "Accept": "json"},
        "email": {"to": "a@b.c", "html_body": "<p>", "text_body": "hi", "attachments": [{"a": 1}]},
        "items": [{"password": "p", "id": 1}, ("webhook_secret", {"api_key": "k"})],
        "account": SecretStr("s"),
        "content": "raw",
        "subject_length": 12,
    }
    assert redact(data) == {
        "server_token": REDACTED,
        "headers": {"X-Postmark-Server-Token": REDACTED, "Authorization": REDACTED, "Accept": "json"},
        "email": {"to": "a@b.c", "html_body": REDACTED, "text_body": REDACTED, "attachments": REDACTED},
        "items": [{"password": REDACTED, "id": 1}, ["webhook_secret", {"api_key": REDACTED}]],
        "account": REDACTED,
        "content": REDACTED,
        "subject_length": 12,
    }


def test_emitted_fields_are_redacted_in_logs(telemetry: Telemetry, log_stream: io.StringIO) -> None:
    telemetry.emit("email.send.attempt", server_token="pm-secret-token", request={"body": "Hello Bob"},
                   sender=SecretStr("hidden"))
    [line] = lines(log_stream)
    assert (line["server_token"], line["request"], line["sender"]) == (REDACTED, {"body": REDACTED}, REDACTED)
    for leaked in ("pm-secret-token", "Hello Bob", "hidden"):
        assert leaked not in log_stream.getvalue()


def test_plain_structlog_calls_are_redacted_too(log_stream: io.StringIO) -> None:
    structlog.get_logger().info("adhoc", token="pm-secret-token", nested={"password": "p4ss"})
    assert "pm-secret-token" not in log_stream.getvalue() and "p4ss" not in log_stream.getvalue()


def test_capture_logs_sees_emitted_events_already_redacted(telemetry: Telemetry) -> None:
    with capture_logs() as logs:
        telemetry.emit("email.webhook.received", labels={"record_type": "Delivery"}, password="p")
    assert logs == [{"event": "email.webhook.received", "log_level": "info",
                     "record_type": "Delivery", "password": REDACTED}]


# --- Sentry ------------------------------------------------------------------------------------


def test_sentry_event_carries_fingerprint_level_environment_and_redacted_extra(
    metrics: CollectorRegistry, sentry_events: list[dict[str, Any]]
) -> None:
    telemetry = Telemetry(metrics, sentry_enabled=True, environment="stage")
    bind_context(configuration_eid="c-1")
    try:
        telemetry.emit("email.drift.dns_missing_record", level="warning", sentry=True,
                       fingerprint=["email.drift.dns_missing_record", "c-1"],
                       labels={"assertion": "dns"}, record="pm-bounces.acme", server_token="tok")
    finally:
        clear_context()
    [event] = sentry_events
    assert event["message"] == "email.drift.dns_missing_record"
    assert event["level"] == "warning"
    assert event["fingerprint"] == ["email.drift.dns_missing_record", "c-1"]
    assert event["environment"] == "stage"
    assert event["extra"]["record"] == "pm-bounces.acme"
    assert event["extra"]["server_token"] == REDACTED
    assert "environment" not in event["extra"] and "partition" not in event["extra"]
    assert event["tags"]["configuration_eid"] == "c-1"
    assert event["tags"]["assertion"] == "dns"


def test_sentry_is_only_used_when_asked_and_enabled(
    metrics: CollectorRegistry, sentry_events: list[dict[str, Any]]
) -> None:
    Telemetry(metrics, sentry_enabled=True).emit("email.send.attempt")
    Telemetry(metrics, sentry_enabled=False).emit("email.send.attempt", sentry=True)
    assert sentry_events == []


def test_sentry_before_send_redacts_events_captured_elsewhere(
    sentry_events: list[dict[str, Any]]
) -> None:
    sentry_sdk.capture_event({"message": "boom", "extra": {"authorization": "Bearer x", "n": 1}})
    [event] = sentry_events
    assert (event["extra"]["authorization"], event["extra"]["n"]) == (REDACTED, 1)


def test_sentry_client_sends_no_default_pii(sentry_events: list[dict[str, Any]]) -> None:
    assert sentry_sdk.get_client().is_active()
    assert sentry_sdk.get_client().should_send_default_pii() is False


def test_init_sentry_without_dsn_starts_no_client() -> None:
    assert init_sentry(None, environment="dev", release="test") is False
    assert not sentry_sdk.get_client().is_active()


# --- formats and noisy libraries (SPEC §15) ------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    yield
    structlog.configure(**saved_config)
    root.handlers, root.level = saved_handlers, saved_level


@pytest.mark.usefixtures("restore_logging")
def test_unset_format_is_console_on_a_terminal_and_json_elsewhere(telemetry: Telemetry) -> None:
    terminal, pipe = Terminal(), io.StringIO()
    configure_logging("INFO", json=None, stream=terminal)
    telemetry.emit("email.test.format", job_id="j1")
    configure_logging("INFO", json=None, stream=pipe)
    telemetry.emit("email.test.format", job_id="j1")
    shown = re.sub(r"\x1b\[[0-9;]*m", "", terminal.getvalue())  # coloured, for a person
    assert "[info     ] email.test.format" in shown and "job_id=j1" in shown
    with pytest.raises(ValueError):
        json.loads(shown.splitlines()[0])
    assert json.loads(pipe.getvalue())["job_id"] == "j1"


def test_http_clients_speak_only_from_warning_up(log_stream: io.StringIO) -> None:
    for name in ("httpx", "httpcore", "botocore", "uvicorn.access"):
        logging.getLogger(name).info("HTTP Request: POST https://api.postmarkapp.com/email 200 OK")
    logging.getLogger("httpx").warning("a retry")
    assert [(line["logger"], line["event"]) for line in lines(log_stream)] == [("httpx", "a retry")]
