"""The encryption-key registry: versioned secret material read from a JSON file (SPEC §9).

The file is what an external-secrets operator projects from the secret store::

    {"current": "v2", "keys": {"v1": "<secret>", "v2": "<secret>"}}

* Version ids match ``[A-Za-z0-9_-]{1,64}`` (Secrets Manager version UUIDs do), so the envelope
  ``a1.k{version}:...`` parses without ambiguity.
* A secret is any string of at least 32 characters (base64, hex, a generated password...). Its
  UTF-8 bytes are the HKDF input keying material; nothing is decoded, so every projection format
  works. 32 random printable characters carry well over 128 bits, enough for HKDF to give a full
  AES-256 key; shorter strings are refused as likely placeholders.

The file is re-read when it changes, without restart: :meth:`KeyRegistry.refresh` compares
(inode, size, mtime_ns) and parses only on change, which also catches Kubernetes' symlink swap
and our own ``os.replace``. A bad file never replaces a good registry; it is reported once as
``email.material_registry.refresh.parse_failed``.

Errors::

    KeyMaterialError
     ├── UnknownKeyVersion        a version id not in the registry
     ├── RegistryFileError        the file cannot be read or is not a valid registry (has .reason)
     └── CannotRemoveCurrent      removing the version new writes use
    (cipher.py adds MalformedEnvelope and DecryptionFailed under KeyMaterialError.)
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tenantmail.services.ports import Telemetry

VERSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MIN_SECRET_CHARS = 32
REFRESH_EVENT = "email.material_registry.refresh"


class KeyMaterialError(Exception):
    """Base of every key registry and cipher error; messages never carry secrets."""


class UnknownKeyVersion(KeyMaterialError):
    """The version id is not (or no longer) in the registry."""

    def __init__(self, version: str):
        super().__init__(f"key version {version!r} is not in the registry")
        self.version = version


class RegistryFileError(KeyMaterialError):
    """The registry file is unreadable or invalid; ``reason`` is a short machine-readable word."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"key registry file rejected ({reason}): {detail}")
        self.reason = reason


class CannotRemoveCurrent(KeyMaterialError):
    """The current version encrypts every new write; make another version current first."""


@dataclass(frozen=True)
class RegistryDocument:
    """A validated registry file: the current version id and every version's secret string."""

    current: str
    keys: Mapping[str, str]

    def to_json(self) -> str:
        return json.dumps({"current": self.current, "keys": dict(self.keys)}, indent=2) + "\n"


def parse_registry(raw: bytes) -> RegistryDocument:
    """Validate a registry file's content; :class:`RegistryFileError` says which rule failed."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryFileError("invalid_json", f"line {getattr(exc, 'lineno', '?')}") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
        raise RegistryFileError("invalid_shape", 'expected {"current": ..., "keys": {...}}')
    keys, current = data["keys"], data.get("current")
    if not keys:
        raise RegistryFileError("empty_keys", "no key versions")
    for version, secret in keys.items():
        _check_entry(version, secret)
    if current not in keys:
        raise RegistryFileError("unknown_current", "'current' names no version in 'keys'")
    return RegistryDocument(current=current, keys=dict(keys))


def _check_entry(version: str, secret: object) -> None:
    if not VERSION_ID.fullmatch(version):
        raise RegistryFileError("invalid_version_id", "version ids must match [A-Za-z0-9_-]{1,64}")
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_CHARS:
        raise RegistryFileError(
            "short_secret", f"version {version!r} needs a string of {MIN_SECRET_CHARS}+ characters"
        )


def read_registry_file(path: Path) -> RegistryDocument:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RegistryFileError("unreadable", exc.strerror or type(exc).__name__) from None
    return parse_registry(raw)


@dataclass(frozen=True)
class _State:
    current: str
    material: Mapping[str, bytes]
    generation: int


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file is rewritten or replaced; None when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class KeyRegistry:
    """The in-memory registry, kept in step with its file.

    ``generation`` rises on every applied change so key caches know when to drop derived keys.
    Refreshes are serialized by a lock; reads take no lock (they see one immutable state).
    """

    def __init__(
        self, path: Path, telemetry: Telemetry, *, min_refresh_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Load the file now; a missing or bad file at start-up raises :class:`RegistryFileError`."""
        self.path = Path(path)
        self._telemetry = telemetry
        self._min_interval = min_refresh_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp = _file_stamp(self.path)
        self._state = _State(current="", material={}, generation=0)
        self._apply(read_registry_file(self.path))
        self._next_check = clock() + min_refresh_interval

    @property
    def current_version(self) -> str:
        return self._state.current

    @property
    def generation(self) -> int:
        return self._state.generation

    def versions(self) -> list[str]:
        """Every version present, the current one first, then the others sorted."""
        state = self._state
        return [state.current, *sorted(v for v in state.material if v != state.current)]

    def material(self, version: str) -> bytes:
        try:
            return self._state.material[version]
        except KeyError:
            raise UnknownKeyVersion(version) from None

    def refresh(self) -> bool:
        """Re-read the file if it changed; True when a new registry was applied."""
        with self._lock:
            stamp = _file_stamp(self.path)
            if stamp == self._stamp:
                return False
            # Remember the stamp even if parsing fails: a bad file is reported once, not per tick.
            self._stamp = stamp
            try:
                document = read_registry_file(self.path)
            except RegistryFileError as exc:
                self._telemetry.emit(
                    f"{REFRESH_EVENT}.parse_failed", labels={"reason": exc.reason}, level="error",
                    path=str(self.path), kept_version=self._state.current,
                )
                return False
            self._apply(document)
            return True

    def refresh_if_due(self) -> bool:
        """:meth:`refresh` at most once per ``min_refresh_interval``: cheap enough for hot paths."""
        now = self._clock()
        if now < self._next_check:
            return False
        self._next_check = now + self._min_interval
        return self.refresh()

    async def watch(self, interval: float = 5.0) -> None:
        """Refresh every ``interval`` seconds until cancelled (run as a background task)."""
        while True:
            await asyncio.sleep(interval)
            self.refresh()

    def _apply(self, document: RegistryDocument) -> None:
        before, after = set(self._state.material), set(document.keys)
        # One assignment swaps the whole state, so readers never see a current without material.
        self._state = _State(
            current=document.current,
            material={v: s.encode("utf-8") for v, s in document.keys.items()},
            generation=self._state.generation + 1,
        )
        for version in sorted(after - before):
            self._telemetry.emit(f"{REFRESH_EVENT}.added", version=version, current=document.current)
        for version in sorted(before - after):
            self._telemetry.emit(f"{REFRESH_EVENT}.removed", version=version, current=document.current)


class DerivedKeys:
    """Per-purpose keys: HKDF-SHA256(material, info), derived once per version.

    Salt is None (RFC 5869 then uses a zero block): the material is already uniformly random
    and ``info`` separates purposes, so a salt would add nothing to store and rotate. The cache
    is dropped whenever the registry's generation changes, so a re-projected secret under an
    existing version id is honoured. Every access runs the registry's rate-limited refresh.
    """

    def __init__(self, registry: KeyRegistry, info: bytes) -> None:
        self._registry = registry
        self._info = info
        self._cache: dict[str, bytes] = {}
        self._generation = -1

    @property
    def current_version(self) -> str:
        self._registry.refresh_if_due()
        return self._registry.current_version

    def versions(self) -> list[str]:
        """Current first, then every other version present."""
        self._registry.refresh_if_due()
        return self._registry.versions()

    def key(self, version: str) -> bytes:
        """The 32-byte key of ``version``; :class:`UnknownKeyVersion` if absent."""
        self._registry.refresh_if_due()
        if self._generation != self._registry.generation:
            self._cache = {}
            self._generation = self._registry.generation
        if version not in self._cache:
            material = self._registry.material(version)
            self._cache[version] = HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=self._info
            ).derive(material)
        return self._cache[version]


# ---------------------------------------------------------------------------------------------
# Managing the file (embedded default and `tenantmail keys rotate`)
# ---------------------------------------------------------------------------------------------


def _new_secret() -> str:
    return secrets.token_urlsafe(48)  # 64 characters, 384 random bits


def _next_version(existing: Mapping[str, str]) -> str:
    """``v{n+1}`` after the highest ``v{n}`` present (``v1`` for a fresh or externally fed file)."""
    numbers = [int(v[1:]) for v in existing if re.fullmatch(r"v\d+", v)]
    return f"v{max(numbers, default=0) + 1}"


def generate_registry_file(path: Path) -> str:
    """Create a fresh registry with one version, mode 0600; FileExistsError if ``path`` exists.

    O_CREAT|O_EXCL with mode 0600 means the file never exists with wider rights, not even
    briefly, and two processes starting together cannot both write it. Returns the version id.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    version = _next_version({})
    document = RegistryDocument(current=version, keys={version: _new_secret()})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(document.to_json())
    return version


def _replace_file(path: Path, document: RegistryDocument) -> None:
    """Write to a 0600 temp file beside ``path``, fsync, then rename over it in one step."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp creates it 0600
            handle.write(document.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def rotate_registry_file(path: Path) -> str:
    """Add a new version and make it current, keeping the old ones; returns the new version id."""
    path = Path(path)
    document = read_registry_file(path)
    version = _next_version(document.keys)
    _replace_file(path, RegistryDocument(version, {**document.keys, version: _new_secret()}))
    return version


def remove_version(path: Path, version: str) -> None:
    """Drop a retired version (after the re-encryption sweep); never the current one."""
    path = Path(path)
    document = read_registry_file(path)
    if version == document.current:
        raise CannotRemoveCurrent(f"version {version!r} is current; rotate before removing it")
    if version not in document.keys:
        raise UnknownKeyVersion(version)
    keys = {v: s for v, s in document.keys.items() if v != version}
    _replace_file(path, RegistryDocument(document.current, keys))
