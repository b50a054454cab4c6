"""Per-configuration webhook passwords derived from the key registry (SPEC §6).

password = base64url(HMAC-SHA256(HKDF(material, info=:data:`WEBHOOK_INFO`), configuration eId)),
no padding. Nothing new is stored; a leaked password exposes one configuration only; and since
every registry version derives its own password, the previous version's passwords keep working
until the rotation sweep has re-installed each webhook and the old version is removed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from tenantmail.adapters.keyregistry import DerivedKeys, KeyRegistry

WEBHOOK_INFO = b"tenantmail/webhook-basic-auth/v1"


class DerivedWebhookSecrets:
    """Implements ``services.ports.WebhookSecrets``, plus :meth:`verify` for the webhook route."""

    def __init__(self, registry: KeyRegistry) -> None:
        self._keys = DerivedKeys(registry, WEBHOOK_INFO)

    def _derive(self, version: str, configuration_eid: str) -> str:
        mac = hmac.new(self._keys.key(version), configuration_eid.encode("utf-8"), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")

    def current(self, configuration_eid: str) -> str:
        """The password to install on the configuration's webhook now."""
        return self._derive(self._keys.current_version, configuration_eid)

    def accepted(self, configuration_eid: str) -> list[str]:
        """Every password accepted now: the current version's first, then the other versions'."""
        return [self._derive(version, configuration_eid) for version in self._keys.versions()]

    def verify(self, configuration_eid: str, password: str) -> bool:
        """Whether ``password`` is one of the accepted ones, compared in constant time."""
        offered = password.encode("utf-8")
        matched = False
        # Every candidate is compared, without stopping at the first match: each comparison is
        # constant-time, so the only thing timing can reveal is how many versions the registry
        # holds (two or three, and not a secret). Which one matched stays hidden.
        for candidate in self.accepted(configuration_eid):
            matched |= hmac.compare_digest(candidate.encode("ascii"), offered)
        return matched
