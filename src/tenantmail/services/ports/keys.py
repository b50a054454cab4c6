"""Keys: server-token encryption and webhook passwords (SPEC §9, §6).
"""

from __future__ import annotations

from typing import Protocol


class TokenCipher(Protocol):
    """AES-256-GCM envelopes ``a1.k{version}:{base64url}`` bound to a configuration eId (SPEC §9)."""

    def encrypt(self, plaintext: str, *, aad: str) -> str: ...
    def decrypt(self, envelope: str, *, aad: str) -> str: ...
    def key_version(self, envelope: str) -> str: ...
    def versions(self) -> list[str]: ...  #: every registry version present, current first
    @property
    def current_version(self) -> str: ...


class WebhookSecrets(Protocol):
    """Per-configuration webhook passwords derived from registry material (SPEC §6)."""

    def current(self, configuration_eid: str) -> str: ...
    def accepted(self, configuration_eid: str) -> list[str]: ...  #: current first, then older versions
    def verify(self, configuration_eid: str, password: str) -> bool: ...  #: constant time over accepted()
