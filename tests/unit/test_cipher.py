"""AES-256-GCM token envelopes (SPEC §9): format, round trip, tamper detection, rotation."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from tenantmail.adapters.cipher import AesGcmTokenCipher, DecryptionFailed, MalformedEnvelope
from tenantmail.adapters.keyregistry import (
    KeyRegistry,
    UnknownKeyVersion,
    generate_registry_file,
    remove_version,
    rotate_registry_file,
)
from tenantmail.adapters.telemetry import Telemetry

EID = "5b0f3c1e-7d4a-4c55-9a57-0d6c7bb2a001"
OTHER_EID = "0a8e7b63-1c2d-4e5f-8a9b-112233445566"
TOKEN = "9f1c2a7e-server-token-plaintext"
ENVELOPE_FORMAT = re.compile(r"a1\.k[A-Za-z0-9_-]{1,64}:[A-Za-z0-9_-]+")


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    file = tmp_path / "keys.json"
    generate_registry_file(file)
    return file


@pytest.fixture
def registry(registry_file: Path) -> KeyRegistry:
    # Interval 0: every cipher call stats the file, so rotations apply without explicit refresh.
    return KeyRegistry(registry_file, Telemetry(CollectorRegistry()), min_refresh_interval=0)


@pytest.fixture
def cipher(registry: KeyRegistry) -> AesGcmTokenCipher:
    return AesGcmTokenCipher(registry)


def flip_payload_byte(envelope: str, index: int) -> str:
    prefix, payload = envelope.split(":")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[index] ^= 0x01
    return f"{prefix}:{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


def test_round_trip_and_envelope_format(cipher: AesGcmTokenCipher) -> None:
    envelope = cipher.encrypt(TOKEN, aad=EID)
    assert ENVELOPE_FORMAT.fullmatch(envelope)
    assert envelope.startswith("a1.kv1:")
    assert "=" not in envelope and TOKEN not in envelope
    assert cipher.decrypt(envelope, aad=EID) == TOKEN
    assert cipher.key_version(envelope) == "v1" == cipher.current_version


def test_payload_is_nonce_ciphertext_and_tag(cipher: AesGcmTokenCipher) -> None:
    payload = cipher.encrypt(TOKEN, aad=EID).split(":")[1]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert len(raw) == 12 + len(TOKEN.encode()) + 16


def test_each_encryption_uses_a_fresh_nonce(cipher: AesGcmTokenCipher) -> None:
    assert cipher.encrypt(TOKEN, aad=EID) != cipher.encrypt(TOKEN, aad=EID)


@settings(max_examples=50, deadline=None)
@given(plaintext=st.text(), aad=st.text())
def test_any_text_round_trips(tmp_path_factory: pytest.TempPathFactory, plaintext: str, aad: str) -> None:
    file = tmp_path_factory.mktemp("keys") / "keys.json"
    generate_registry_file(file)
    cipher = AesGcmTokenCipher(KeyRegistry(file, Telemetry(CollectorRegistry())))
    assert cipher.decrypt(cipher.encrypt(plaintext, aad=aad), aad=aad) == plaintext


@pytest.mark.parametrize("index", [0, 11, 12, -17, -1], ids=["nonce0", "nonce11", "ciphertext", "last-ct", "tag"])
def test_any_flipped_byte_fails_authentication(cipher: AesGcmTokenCipher, index: int) -> None:
    tampered = flip_payload_byte(cipher.encrypt(TOKEN, aad=EID), index)
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(tampered, aad=EID)


def test_ciphertext_moved_to_another_configuration_fails(cipher: AesGcmTokenCipher) -> None:
    envelope = cipher.encrypt(TOKEN, aad=EID)
    with pytest.raises(DecryptionFailed) as caught:
        cipher.decrypt(envelope, aad=OTHER_EID)
    message = str(caught.value)
    assert TOKEN not in message and envelope not in message and envelope.split(":")[1] not in message


def test_unknown_key_version_is_a_typed_error(cipher: AesGcmTokenCipher) -> None:
    envelope = cipher.encrypt(TOKEN, aad=EID).replace("a1.kv1:", "a1.kv9:")
    with pytest.raises(UnknownKeyVersion) as caught:
        cipher.decrypt(envelope, aad=EID)
    assert caught.value.version == "v9"


@pytest.mark.parametrize(
    "envelope",
    [
        "",
        "plaintext-token",
        "a2.kv1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # unknown algorithm
        "a1.kv1:",  # no payload
        "a1.k:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # no version
        "a1.kv.1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # version outside the alphabet
        "a1.kv1:AAAA+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # standard, not url-safe, base64
        "a1.kv1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  # padding
        "a1.kv1:AAAAA",  # not decodable (length 1 mod 4)
        "a1.kv1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # 27 bytes: shorter than nonce + tag
        "a1.kv1:AAAA:AAAA",
        " a1.kv1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ],
)
def test_malformed_envelopes_are_rejected(cipher: AesGcmTokenCipher, envelope: str) -> None:
    with pytest.raises(MalformedEnvelope):
        cipher.decrypt(envelope, aad=EID)
    with pytest.raises(MalformedEnvelope):
        cipher.key_version(envelope)


def test_rotation_writes_with_current_and_still_reads_old(
    cipher: AesGcmTokenCipher, registry_file: Path
) -> None:
    old = cipher.encrypt(TOKEN, aad=EID)
    new_version = rotate_registry_file(registry_file)
    new = cipher.encrypt(TOKEN, aad=EID)
    assert cipher.current_version == new_version == cipher.key_version(new) == "v2"
    assert cipher.key_version(old) == "v1"
    assert cipher.decrypt(old, aad=EID) == cipher.decrypt(new, aad=EID) == TOKEN


def test_removed_version_no_longer_decrypts(cipher: AesGcmTokenCipher, registry_file: Path) -> None:
    old = cipher.encrypt(TOKEN, aad=EID)
    rotate_registry_file(registry_file)
    remove_version(registry_file, "v1")
    with pytest.raises(UnknownKeyVersion):
        cipher.decrypt(old, aad=EID)


def test_new_material_under_the_same_version_replaces_the_cached_key(
    cipher: AesGcmTokenCipher, registry_file: Path
) -> None:
    envelope = cipher.encrypt(TOKEN, aad=EID)
    document = json.loads(registry_file.read_text())
    document["keys"]["v1"] = "another-secret-of-sufficient-length-0123456789"
    registry_file.unlink()
    registry_file.write_text(json.dumps(document))
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(envelope, aad=EID)


def test_keys_are_separated_by_purpose(registry: KeyRegistry) -> None:
    envelope = AesGcmTokenCipher(registry).encrypt(TOKEN, aad=EID)
    with pytest.raises(DecryptionFailed):
        AesGcmTokenCipher(registry, info=b"tenantmail/another-purpose/v1").decrypt(envelope, aad=EID)
