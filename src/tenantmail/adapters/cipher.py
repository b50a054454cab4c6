"""Server-token encryption: AES-256-GCM envelopes bound to a configuration (SPEC §9).

Envelope ``a1.k{versionId}:{base64url(nonce ‖ ciphertext ‖ tag), no padding}``:

* ``a1`` — the algorithm: AES-256-GCM, 12-byte random nonce, 16-byte tag, key =
  HKDF-SHA256(registry material of ``versionId``, info=:data:`TOKEN_INFO`, no salt).
* ``k{versionId}`` — the registry version used at write time; any version still present decrypts.
* The associated data is the configuration eId, so a ciphertext copied to another row fails.

Messages of the errors raised here never include the plaintext, key material or envelope.
"""

from __future__ import annotations

import base64
import binascii
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tenantmail.adapters.keyregistry import DerivedKeys, KeyMaterialError, KeyRegistry

ALGORITHM = "a1"
TOKEN_INFO = b"tenantmail/postmark-server-token/v1"
NONCE_BYTES = 12
TAG_BYTES = 16
ENVELOPE = re.compile(r"a1\.k(?P<version>[A-Za-z0-9_-]{1,64}):(?P<payload>[A-Za-z0-9_-]+)")


class MalformedEnvelope(KeyMaterialError):
    """The value is not an ``a1.k{version}:{payload}`` envelope."""


class DecryptionFailed(KeyMaterialError):
    """Authentication failed: the envelope was altered or belongs to another configuration."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise MalformedEnvelope("envelope payload is not base64url") from None


def _parse(envelope: str) -> tuple[str, bytes]:
    match = ENVELOPE.fullmatch(envelope)
    if match is None:
        raise MalformedEnvelope(f"not an {ALGORITHM}.k{{version}}:{{payload}} envelope")
    payload = _b64decode(match["payload"])
    if len(payload) < NONCE_BYTES + TAG_BYTES:
        raise MalformedEnvelope("envelope payload too short for nonce and tag")
    return match["version"], payload


class AesGcmTokenCipher:
    """Implements ``services.ports.TokenCipher`` over a :class:`KeyRegistry`."""

    def __init__(self, registry: KeyRegistry, *, info: bytes = TOKEN_INFO) -> None:
        self._keys = DerivedKeys(registry, info)

    @property
    def current_version(self) -> str:
        return self._keys.current_version

    def encrypt(self, plaintext: str, *, aad: str) -> str:
        """Encrypt with the current version; a fresh random nonce every call."""
        version = self._keys.current_version
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._keys.key(version)).encrypt(
            nonce, plaintext.encode("utf-8"), aad.encode("utf-8")
        )
        return f"{ALGORITHM}.k{version}:{_b64encode(nonce + sealed)}"

    def decrypt(self, envelope: str, *, aad: str) -> str:
        """Decrypt with the envelope's version; UnknownKeyVersion if the registry dropped it."""
        version, payload = _parse(envelope)
        key = self._keys.key(version)
        try:
            plaintext = AESGCM(key).decrypt(
                payload[:NONCE_BYTES], payload[NONCE_BYTES:], aad.encode("utf-8")
            )
        except InvalidTag:
            raise DecryptionFailed(
                f"envelope under key version {version!r} failed authentication "
                "(altered, or associated data of another configuration)"
            ) from None
        return plaintext.decode("utf-8")

    def versions(self) -> list[str]:
        """Every registry version this cipher can decrypt with, the current one first."""
        return self._keys.versions()

    def key_version(self, envelope: str) -> str:
        """The registry version an envelope was written with (for sweeps and drift)."""
        return _parse(envelope)[0]
