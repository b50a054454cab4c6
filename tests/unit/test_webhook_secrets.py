"""Webhook passwords derived per configuration from the key registry (SPEC §6)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from tenantmail.adapters.keyregistry import (
    KeyRegistry,
    generate_registry_file,
    remove_version,
    rotate_registry_file,
)
from tenantmail.adapters.telemetry import Telemetry
from tenantmail.adapters.webhook_secrets import DerivedWebhookSecrets

EID = "5b0f3c1e-7d4a-4c55-9a57-0d6c7bb2a001"
OTHER_EID = "0a8e7b63-1c2d-4e5f-8a9b-112233445566"


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    file = tmp_path / "keys.json"
    generate_registry_file(file)
    return file


@pytest.fixture
def secrets(registry_file: Path) -> DerivedWebhookSecrets:
    registry = KeyRegistry(registry_file, Telemetry(CollectorRegistry()), min_refresh_interval=0)
    return DerivedWebhookSecrets(registry)


def test_password_is_stable_unpadded_base64url_of_a_sha256(secrets: DerivedWebhookSecrets) -> None:
    password = secrets.current(EID)
    assert password == secrets.current(EID)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", password)


def test_each_configuration_gets_its_own_password(secrets: DerivedWebhookSecrets) -> None:
    assert secrets.current(EID) != secrets.current(OTHER_EID)
    assert not secrets.verify(OTHER_EID, secrets.current(EID))


def test_same_material_derives_the_same_password_in_another_process(registry_file: Path) -> None:
    one, other = (
        DerivedWebhookSecrets(KeyRegistry(registry_file, Telemetry(CollectorRegistry())))
        for _ in range(2)
    )
    assert one.current(EID) == other.current(EID)


def test_verify_accepts_current_and_rejects_others(secrets: DerivedWebhookSecrets) -> None:
    assert secrets.verify(EID, secrets.current(EID))
    assert not secrets.verify(EID, "")
    assert not secrets.verify(EID, secrets.current(EID)[:-1])
    assert not secrets.verify(EID, "pässwörd-not-ascii")


def test_previous_version_password_is_accepted_during_rotation(
    secrets: DerivedWebhookSecrets, registry_file: Path
) -> None:
    before = secrets.current(EID)
    rotate_registry_file(registry_file)
    after = secrets.current(EID)
    assert after != before
    assert secrets.accepted(EID) == [after, before]
    assert secrets.verify(EID, before) and secrets.verify(EID, after)


def test_previous_version_password_is_rejected_once_the_version_is_removed(
    secrets: DerivedWebhookSecrets, registry_file: Path
) -> None:
    before = secrets.current(EID)
    rotate_registry_file(registry_file)
    remove_version(registry_file, "v1")
    assert secrets.accepted(EID) == [secrets.current(EID)]
    assert not secrets.verify(EID, before)
