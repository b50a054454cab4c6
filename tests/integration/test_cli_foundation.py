"""The command line's base: version, help, migrate, and one-line errors for bad settings."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tenantmail import __version__
from tenantmail.adapters.db.migrate import head_revision
from tenantmail.entrypoints.cli.main import app

runner = CliRunner()


def test_version_and_help() -> None:
    assert runner.invoke(app, ["--version"]).stdout.strip() == f"tenantmail {__version__}"
    help_text = runner.invoke(app, ["--help"]).stdout
    for command in ("serve", "worker", "migrate"):
        assert command in help_text


def test_migrate_brings_a_fresh_database_to_head_and_is_idempotent(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TENANTMAIL_DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("TENANTMAIL_VAR_DIR", str(tmp_path))
    first = runner.invoke(app, ["migrate", "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["from"] is None and report["to"] == head_revision()
    again = runner.invoke(app, ["migrate", "--json"])
    assert json.loads(again.stdout)["from"] == head_revision()


def test_a_bad_setting_stops_the_command_with_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [sys.executable, "-m", "tenantmail.entrypoints.cli.main", "migrate"],
        env={"TENANTMAIL_PORT": "not-a-port", "TENANTMAIL_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "invalid setting TENANTMAIL_PORT" in lines[0]


def test_serve_refuses_an_unmigrated_database_with_one_line(fresh_database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [sys.executable, "-m", "tenantmail.entrypoints.cli.main", "serve", "--port", "1"],
        env={
            "TENANTMAIL_DATABASE_URL": fresh_database_url, "TENANTMAIL_VAR_DIR": str(tmp_path),
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "run `tenantmail migrate` first" in result.stderr
