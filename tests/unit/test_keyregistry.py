"""The key registry file: loading, reload on change, bad files, and managing versions."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from tenantmail.adapters.keyregistry import (
    MIN_SECRET_CHARS,
    CannotRemoveCurrent,
    KeyRegistry,
    RegistryFileError,
    UnknownKeyVersion,
    generate_registry_file,
    remove_version,
    rotate_registry_file,
)
from tenantmail.adapters.telemetry import Telemetry

SECRET_A = "a" * MIN_SECRET_CHARS
SECRET_B = "b" * 40
SECRET_C = "c" * 64


def write(path: Path, current: str, keys: dict[str, str]) -> None:
    # os.replace gives the file a new inode, as an external-secrets projection would.
    temp = path.with_suffix(".new")
    temp.write_text(json.dumps({"current": current, "keys": keys}))
    os.replace(temp, path)


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry(CollectorRegistry())


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "keys.json"
    write(file, "k1", {"k1": SECRET_A, "k0": SECRET_B})
    return file


def events(logs: list[dict], name: str) -> list[dict]:
    return [line for line in logs if line["event"] == name]


def test_loads_current_versions_and_utf8_material(path: Path, telemetry: Telemetry) -> None:
    registry = KeyRegistry(path, telemetry)
    assert registry.current_version == "k1"
    assert registry.versions() == ["k1", "k0"]
    assert registry.material("k0") == SECRET_B.encode()


def test_unknown_version_raises_typed_error(path: Path, telemetry: Telemetry) -> None:
    with pytest.raises(UnknownKeyVersion) as caught:
        KeyRegistry(path, telemetry).material("nope")
    assert caught.value.version == "nope"


def test_initial_load_reports_each_version_added(path: Path, telemetry: Telemetry) -> None:
    with capture_logs() as logs:
        KeyRegistry(path, telemetry)
    added = events(logs, "email.material_registry.refresh.added")
    assert sorted(line["version"] for line in added) == ["k0", "k1"]
    assert telemetry.registry.get_sample_value("email_material_registry_refresh_added_total") == 2


def test_refresh_without_change_reads_nothing(path: Path, telemetry: Telemetry) -> None:
    registry = KeyRegistry(path, telemetry)
    with capture_logs() as logs:
        assert registry.refresh() is False
    assert logs == []


def test_refresh_applies_new_file_and_reports_added_and_removed(
    path: Path, telemetry: Telemetry
) -> None:
    registry = KeyRegistry(path, telemetry)
    write(path, "k2", {"k1": SECRET_A, "k2": SECRET_C})
    with capture_logs() as logs:
        assert registry.refresh() is True
    assert registry.current_version == "k2"
    assert registry.versions() == ["k2", "k1"]
    assert [line["version"] for line in events(logs, "email.material_registry.refresh.added")] == ["k2"]
    assert [line["version"] for line in events(logs, "email.material_registry.refresh.removed")] == ["k0"]
    with pytest.raises(UnknownKeyVersion):
        registry.material("k0")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "invalid_json"),
        ('["current", "keys"]', "invalid_shape"),
        (json.dumps({"current": "k1", "keys": {}}), "empty_keys"),
        (json.dumps({"current": "k9", "keys": {"k1": SECRET_A}}), "unknown_current"),
        (json.dumps({"current": "k1", "keys": {"k1": "too-short-secret-value"}}), "short_secret"),
        (json.dumps({"current": "k1", "keys": {"k1": 12345678901234567890123456789012345}}), "short_secret"),
        (json.dumps({"current": "k:1", "keys": {"k:1": SECRET_A}}), "invalid_version_id"),
    ],
)
def test_bad_file_keeps_last_good_registry_and_reports_once(
    path: Path, telemetry: Telemetry, content: str, reason: str
) -> None:
    registry = KeyRegistry(path, telemetry)
    path.write_text(content)
    with capture_logs() as logs:
        assert registry.refresh() is False
        assert registry.refresh() is False  # same bad file: not reported again
    failed = events(logs, "email.material_registry.refresh.parse_failed")
    assert len(failed) == 1
    assert failed[0]["reason"] == reason
    assert failed[0]["log_level"] == "error"
    assert "too-short-secret-value" not in repr(logs)
    assert registry.current_version == "k1"
    assert registry.material("k1") == SECRET_A.encode()
    assert telemetry.registry.get_sample_value(
        "email_material_registry_refresh_parse_failed_total", {"reason": reason}
    ) == 1


def test_good_file_after_bad_one_is_applied(path: Path, telemetry: Telemetry) -> None:
    registry = KeyRegistry(path, telemetry)
    path.write_text("{broken")
    registry.refresh()
    write(path, "k3", {"k3": SECRET_C})
    assert registry.refresh() is True
    assert registry.versions() == ["k3"]


def test_missing_file_is_reported_and_last_good_kept(path: Path, telemetry: Telemetry) -> None:
    registry = KeyRegistry(path, telemetry)
    path.unlink()
    with capture_logs() as logs:
        registry.refresh()
    assert events(logs, "email.material_registry.refresh.parse_failed")[0]["reason"] == "unreadable"
    assert registry.current_version == "k1"


def test_bad_file_at_start_up_is_refused(tmp_path: Path, telemetry: Telemetry) -> None:
    bad = tmp_path / "keys.json"
    bad.write_text(json.dumps({"current": "k1", "keys": {"k1": "tiny-secret-x"}}))
    with pytest.raises(RegistryFileError) as caught:
        KeyRegistry(bad, telemetry)
    assert caught.value.reason == "short_secret"
    assert "tiny-secret-x" not in str(caught.value)
    with pytest.raises(RegistryFileError):
        KeyRegistry(tmp_path / "absent.json", telemetry)


def test_refresh_if_due_stats_at_most_once_per_interval(path: Path, telemetry: Telemetry) -> None:
    now = [100.0]
    registry = KeyRegistry(path, telemetry, min_refresh_interval=5.0, clock=lambda: now[0])
    write(path, "k2", {"k2": SECRET_C})
    now[0] += 4.0
    assert registry.refresh_if_due() is False
    assert registry.current_version == "k1"
    now[0] += 1.0
    assert registry.refresh_if_due() is True
    assert registry.current_version == "k2"


async def test_watch_task_picks_up_a_rotation(path: Path, telemetry: Telemetry) -> None:
    registry = KeyRegistry(path, telemetry)
    watcher = asyncio.create_task(registry.watch(0.01))
    try:
        new_version = rotate_registry_file(path)
        async with asyncio.timeout(10):
            while registry.current_version != new_version:
                await asyncio.sleep(0.01)
    finally:
        watcher.cancel()
    assert new_version in registry.versions()


def test_generated_file_is_private_and_valid(tmp_path: Path, telemetry: Telemetry) -> None:
    file = tmp_path / "var" / "keys.json"
    version = generate_registry_file(file)
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    document = json.loads(file.read_text())
    assert document["current"] == version == "v1"
    assert len(document["keys"][version]) >= 64
    assert KeyRegistry(file, telemetry).current_version == "v1"


def test_generate_refuses_to_overwrite(path: Path) -> None:
    before = path.read_text()
    with pytest.raises(FileExistsError):
        generate_registry_file(path)
    assert path.read_text() == before


def test_rotate_adds_a_current_version_and_keeps_the_old(tmp_path: Path) -> None:
    file = tmp_path / "keys.json"
    generate_registry_file(file)
    first = json.loads(file.read_text())
    assert rotate_registry_file(file) == "v2"
    second = json.loads(file.read_text())
    assert second["current"] == "v2"
    assert second["keys"]["v1"] == first["keys"]["v1"]
    assert second["keys"]["v2"] != first["keys"]["v1"]
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]  # no temp file left behind


def test_rotate_of_an_externally_named_registry_starts_at_v1(path: Path) -> None:
    assert rotate_registry_file(path) == "v1"
    assert json.loads(path.read_text())["current"] == "v1"


def test_remove_version_drops_an_old_version_only(tmp_path: Path) -> None:
    file = tmp_path / "keys.json"
    generate_registry_file(file)
    rotate_registry_file(file)
    with pytest.raises(CannotRemoveCurrent):
        remove_version(file, "v2")
    with pytest.raises(UnknownKeyVersion):
        remove_version(file, "v7")
    remove_version(file, "v1")
    assert json.loads(file.read_text())["keys"].keys() == {"v2"}
