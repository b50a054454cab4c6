"""Settings: defaults, derived values, one clear line per bad value, secrets never shown."""

from __future__ import annotations

import pytest

from tenantmail.settings import Settings, SettingsError, load_settings


def _settings(**kwargs: object) -> Settings:
    return load_settings(_env_file=None, **kwargs)


def test_defaults_are_the_embedded_offline_setup() -> None:
    s = _settings()
    assert (s.host, s.port, s.partition) == ("127.0.0.1", 8000, "dev")
    assert s.effective_mail_zone_name == "dev.ardamails.com"
    assert s.uses_sandbox and not s.is_live
    assert s.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert s.webhook_url == "http://127.0.0.1:8000/v1/shop-access/email/job/postmark-events"
    assert s.verification_poll_seconds == 30 and s.verification_timeout_hours == 24
    assert s.drift_interval_minutes == 15


def test_live_partitions_decide_delivery_type() -> None:
    assert _settings(partition="prod").is_live
    assert not _settings(partition="stage").is_live
    assert _settings(partition="qa", live_partitions="qa,prod").is_live


@pytest.mark.parametrize(
    ("env", "value", "fragment"),
    [
        ("TENANTMAIL_PORT", "eighty", "TENANTMAIL_PORT"),
        ("TENANTMAIL_PORT", "70000", "TENANTMAIL_PORT"),
        ("TENANTMAIL_PARTITION", "Prod_1", "TENANTMAIL_PARTITION: must be a DNS label"),
        ("TENANTMAIL_DATABASE_URL", "mysql://x", "TENANTMAIL_DATABASE_URL: must be a sqlite:// or postgresql:// URL"),
        ("TENANTMAIL_API_KEYS", "short", "TENANTMAIL_API_KEYS: every API key must be at least 16 characters"),
        ("TENANTMAIL_POSTMARK_BASE_URL", "ftp://x", "TENANTMAIL_POSTMARK_BASE_URL: must be an http"),
        ("TENANTMAIL_DRIFT_ASSERTIONS", "dns_missing_record,bogus", "unknown drift assertion(s): bogus"),
        ("TENANTMAIL_VERIFICATION_POLL_SECONDS", "0", "TENANTMAIL_VERIFICATION_POLL_SECONDS"),
        ("TENANTMAIL_LOG_LEVEL", "LOUD", "TENANTMAIL_LOG_LEVEL"),
    ],
)
def test_each_bad_value_gives_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as info:
        _settings()
    assert len(info.value.lines) == 1
    assert info.value.lines[0].startswith(f"invalid setting {env}")
    assert fragment in info.value.lines[0]


def test_several_bad_values_are_all_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANTMAIL_PORT", "x")
    monkeypatch.setenv("TENANTMAIL_PARTITION", "UPPER")
    with pytest.raises(SettingsError) as info:
        _settings()
    assert {line.split(":")[0] for line in info.value.lines} == {
        "invalid setting TENANTMAIL_PORT", "invalid setting TENANTMAIL_PARTITION",
    }


def test_secrets_never_appear_in_repr_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANTMAIL_API_KEYS", "key-one-0123456789,key-two-0123456789")
    monkeypatch.setenv("TENANTMAIL_POSTMARK_ACCOUNT_TOKEN", "account-token-secret-value")
    s = _settings()
    shown = repr(s) + str(s) + s.model_dump_json()
    for secret in ("key-one-0123456789", "key-two-0123456789", "account-token-secret-value"):
        assert secret not in shown
    assert [k.get_secret_value() for k in s.api_keys] == ["key-one-0123456789", "key-two-0123456789"]

    monkeypatch.setenv("TENANTMAIL_PORT", "nope")
    with pytest.raises(SettingsError) as info:
        _settings()
    assert "account-token-secret-value" not in str(info.value)


def test_a_lease_shorter_than_a_dispatch_pass_is_refused() -> None:
    with pytest.raises(SettingsError) as info:
        _settings(lease_seconds=20, postmark_timeout_seconds=10)
    assert info.value.lines == [
        "invalid settings: TENANTMAIL_LEASE_SECONDS must be at least 3 × "
        "TENANTMAIL_POSTMARK_TIMEOUT_SECONDS (30)"
    ]
    assert _settings(lease_seconds=30, postmark_timeout_seconds=10).lease_seconds == 30


@pytest.mark.parametrize(("env", "value", "fragment"), [
    ("TENANTMAIL_LOG_FORMAT", "xml", "Input should be 'console' or 'json'"),
    ("TENANTMAIL_WORKER_PORT", "65536", "TENANTMAIL_WORKER_PORT"),
])
def test_deployment_settings_are_checked_like_the_others(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, fragment: str,
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as info:
        _settings()
    assert len(info.value.lines) == 1 and info.value.lines[0].startswith(f"invalid setting {env}")
    assert fragment in info.value.lines[0]


def test_log_format_decides_json_and_leaves_it_to_the_terminal_when_unset() -> None:
    assert _settings().log_json is None  # console on a terminal, JSON elsewhere (configure_logging)
    assert _settings(log_format="json").log_json is True
    assert _settings(log_format="console").log_json is False
    assert _settings().worker_port == 8001


def test_an_empty_variable_means_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """What compose writes for an unset ``${VAR:-}``."""
    monkeypatch.setenv("TENANTMAIL_SENTRY_DSN", "")
    monkeypatch.setenv("TENANTMAIL_PORT", "")
    s = _settings()
    assert s.sentry_dsn is None and s.port == 8000


def test_settings_come_from_mounted_secret_files_too(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "tenantmail_api_keys").write_text("first-key-0123456789,second-key-0123456789\n")
    (tmp_path / "tenantmail_database_url").write_text("postgresql://tm:pw@db/tm\n")
    monkeypatch.setenv("TENANTMAIL_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("TENANTMAIL_DATABASE_URL", "postgresql://tm:other@db/tm")  # the environment wins
    s = _settings()
    assert [k.get_secret_value() for k in s.api_keys] == ["first-key-0123456789", "second-key-0123456789"]
    assert s.database_url == "postgresql://tm:other@db/tm"

    monkeypatch.setenv("TENANTMAIL_SECRETS_DIR", str(tmp_path / "missing"))
    with pytest.raises(SettingsError) as info:
        _settings()
    assert info.value.lines == [f"invalid setting TENANTMAIL_SECRETS_DIR: {tmp_path / 'missing'} is not a directory"]
