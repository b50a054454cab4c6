"""Console sessions: a signed cookie instead of the raw API key, and a CSRF token bound to it.

The cookie holds ``{payload}.{mac}`` where the payload is the operator's display name, the issue
time and a random nonce, and the MAC is HMAC-SHA256 under a key *derived* from the API key that
logged in. The raw key never leaves the server, and removing a key from the settings (rotation)
invalidates every session it opened, without any server-side session store.

The CSRF token is a second HMAC of the session nonce under the same derived key: unique per
session, never stored, and unforgeable without the API key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import SecretStr

COOKIE_NAME = "tenantmail_console"
SESSION_TTL = timedelta(hours=8)
CLOCK_SKEW = timedelta(minutes=5)
OPERATOR_PATTERN = re.compile(r"^[\w .@+-]{1,64}$")
DEFAULT_OPERATOR = "operator"

_SESSION_INFO = b"tenantmail console session v1"
_CSRF_INFO = b"csrf:"


@dataclass(frozen=True)
class Session:
    """A verified console session. ``operator`` is what history records as the author."""

    operator: str
    issued_at: datetime
    nonce: str
    signing_key: bytes = field(repr=False)

    @property
    def author(self) -> str:
        return f"console:{self.operator}"

    @property
    def csrf_token(self) -> str:
        return _b64(hmac.new(self.signing_key, _CSRF_INFO + self.nonce.encode(), hashlib.sha256).digest())

    def is_valid_csrf(self, presented: str | None) -> bool:
        """Constant-time check of a form's CSRF token against this session's."""
        return hmac.compare_digest((presented or "").encode(), self.csrf_token.encode())


def matching_key(keys: Sequence[SecretStr], presented: str) -> SecretStr | None:
    """The configured API key equal to ``presented``, compared in constant time against all."""
    candidate = presented.strip().encode()
    found: SecretStr | None = None
    for key in keys:  # no early exit: timing does not reveal which key (if any) matched
        if hmac.compare_digest(candidate, key.get_secret_value().encode()):
            found = key
    return found


def normalize_operator(name: str | None) -> str:
    """A one-line display name for history; anything unusable falls back to ``operator``."""
    name = (name or "").strip()
    return name if OPERATOR_PATTERN.match(name) else DEFAULT_OPERATOR


def issue(api_key: SecretStr, operator: str, now: datetime) -> str:
    """A new cookie value for a session opened with ``api_key``."""
    payload = json.dumps(
        {"op": operator, "iat": int(now.timestamp()), "n": secrets.token_urlsafe(16)}, separators=(",", ":")
    )
    body = _b64(payload.encode())
    return f"{body}.{_mac(_signing_key(api_key), body)}"


def verify(keys: Sequence[SecretStr], token: str | None, now: datetime) -> Session | None:
    """The session ``token`` stands for, or None when it is absent, forged, expired or its key is gone."""
    body, _, mac = (token or "").partition(".")
    if not body or not mac:
        return None
    signing_key = None
    for key in keys:  # every key is tried, as in matching_key
        candidate = _signing_key(key)
        if hmac.compare_digest(mac.encode(), _mac(candidate, body).encode()):
            signing_key = candidate
    if signing_key is None:
        return None
    return _open(body, signing_key, now)


def _open(body: str, signing_key: bytes, now: datetime) -> Session | None:
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        issued_at = datetime.fromtimestamp(int(claims["iat"]), tz=now.tzinfo)
        operator, nonce = str(claims["op"]), str(claims["n"])
    except (ValueError, KeyError, TypeError):
        return None  # signed by us but unreadable: only possible across format changes
    if not issued_at - CLOCK_SKEW <= now < issued_at + SESSION_TTL:
        return None
    return Session(operator=operator, issued_at=issued_at, nonce=nonce, signing_key=signing_key)


def _signing_key(api_key: SecretStr) -> bytes:
    return hmac.new(api_key.get_secret_value().encode(), _SESSION_INFO, hashlib.sha256).digest()


def _mac(signing_key: bytes, body: str) -> str:
    return _b64(hmac.new(signing_key, body.encode(), hashlib.sha256).digest())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
