"""Key rotation (SPEC §9): status, the re-encryption sweep, webhook credential re-installation.

Rotation itself only adds a registry version and makes it current (the registry file is the
adapter's business); every version present still decrypts and still authenticates webhooks.
The sweep then moves the past onto the current version:

1. every stored server token not under the current version is decrypted and re-encrypted, one
   row per transaction through the tenant's repository (so each re-encryption is in the audit
   history), paged by eId — stopping anywhere loses nothing, the next run selects what is left;
   the notification endpoints' signing secrets (sealed with the same cipher) likewise;
2. every live webhook whose password was derived with another version (or an unknown one) gets
   ``edit_webhook`` with the current password, a few calls at a time, and is marked done.

Only then may an old version be removed: :func:`remove_version` refuses while any token, signing
secret or webhook still depends on it. Rows are never re-encrypted lazily on read (the sweep tick covers it).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tenantmail.domain.errors import Conflict, NotFound
from tenantmail.services.context import ServiceContext
from tenantmail.services.ports import StoredSecret, StoredToken

BATCH_SIZE = 200
CONCURRENCY = 8  #: Postmark calls in flight while re-installing webhooks
TICK = "key-sweep"
AUTHOR = "system:key-rotation"
CAUSE = "re-encrypt-token"
UNREADABLE = "<unreadable>"
Progress = Callable[[str, int], None]  #: (phase, rows done in this call)


class KeyVersionInUse(Conflict):
    """A registry version still protects stored tokens or installed webhooks, or is current."""

    kind = "KeyVersionInUse"

    def __init__(self, version: str, reason: str):
        super().__init__(f"key version {version!r} cannot be removed: {reason}", version=version)


@dataclass(frozen=True)
class KeyStatus:
    current: str
    versions: list[str]  #: in the registry, current first
    tokens_per_version: dict[str, int]  #: stored server tokens by the version they are under
    stale_webhooks: int  #: live webhooks whose password is not derived from the current version
    #: notification endpoints' signing secrets by the version they are under (one per endpoint,
    #: two while a rotated secret still signs)
    secrets_per_version: dict[str, int] = field(default_factory=dict)

    @property
    def missing_versions(self) -> list[str]:
        """Versions rows are under that the registry no longer has (drift: registry_missing_key)."""
        return sorted((set(self.tokens_per_version) | set(self.secrets_per_version)) - set(self.versions))

    def to_json(self) -> dict[str, object]:
        return {"current": self.current, "versions": self.versions, "tokensPerVersion": self.tokens_per_version,
                "notificationSecretsPerVersion": self.secrets_per_version,
                "staleWebhooks": self.stale_webhooks, "missingVersions": self.missing_versions}


@dataclass
class SweepResult:
    current: str
    reencrypted: int = 0
    webhooks_reinstalled: int = 0
    secrets_reencrypted: int = 0  #: notification endpoints whose signing secrets moved
    skipped: dict[str, str] = field(default_factory=dict)  #: configuration (or endpoint) eId → why it was left

    def to_json(self) -> dict[str, object]:
        return {"current": self.current, "reencrypted": self.reencrypted,
                "webhooksReinstalled": self.webhooks_reinstalled,
                "notificationSecretsReencrypted": self.secrets_reencrypted, "skipped": self.skipped}


# --- status ------------------------------------------------------------------------------------


async def key_status(ctx: ServiceContext) -> KeyStatus:
    per_version: Counter[str] = Counter()
    async for token in _tokens(ctx):
        per_version[_version_of(ctx, token.ciphertext)] += 1
    stale = sum([1 async for _ in _stale_webhooks(ctx, ctx.cipher.current_version)])
    secrets: Counter[str] = Counter()
    async for sealed in _secrets(ctx):
        secrets.update(_version_of(ctx, c) for c in sealed.ciphertexts)
    return KeyStatus(ctx.cipher.current_version, ctx.cipher.versions(), dict(per_version), stale, dict(secrets))


# --- sweep ---------------------------------------------------------------------------------------


async def sweep(ctx: ServiceContext, *, progress: Progress | None = None, batch_size: int = BATCH_SIZE) -> SweepResult:
    """Re-encrypt every token onto the current version, then re-install stale webhook credentials."""
    result = SweepResult(ctx.cipher.current_version)
    async for token in _tokens(ctx, not_on=result.current, batch_size=batch_size):
        if await _reencrypt(ctx, token, result):
            result.reencrypted += 1
            _tell(progress, "tokens", result.reencrypted)
    async for sealed in _secrets(ctx, not_on=result.current, batch_size=batch_size):
        if await _reseal(ctx, sealed, result):
            result.secrets_reencrypted += 1
            _tell(progress, "notification secrets", result.secrets_reencrypted)
    await _reinstall_webhooks(ctx, result, progress, batch_size)
    ctx.telemetry.emit("email.material_registry.sweep", level="warning" if result.skipped else "info",
                       **{k: v for k, v in result.to_json().items() if k != "skipped"},
                       skipped=sorted(result.skipped))
    return result


async def sweep_tick(ctx: ServiceContext) -> int:
    """Worker step: one sweep per cluster per drift interval, so a rotation completes unattended."""
    interval = timedelta(minutes=ctx.settings.drift_interval_minutes)
    if not await ctx.work.claim_tick(TICK, interval, ctx.clock()):
        return 0
    result = await sweep(ctx)
    return result.reencrypted + result.secrets_reencrypted + result.webhooks_reinstalled


async def _reencrypt(ctx: ServiceContext, token: StoredToken, result: SweepResult) -> bool:
    """One row in its own transaction; a row changed meanwhile is left for the next run."""
    async with ctx.uow(token.tenant_id) as uow:
        config = await uow.configurations.get(token.e_id, for_update=True)
        if config.server_token_ciphertext != token.ciphertext:
            return False
        plaintext = _decrypted(ctx, token, result)
        if plaintext is None:
            return False
        config.server_token_ciphertext = ctx.cipher.encrypt(plaintext, aad=token.e_id)
        config.updated_at = ctx.clock()
        await uow.configurations.save(config, author=AUTHOR, cause=CAUSE)
        await uow.commit()
    return True


async def _reseal(ctx: ServiceContext, sealed: StoredSecret, result: SweepResult) -> bool:
    """One endpoint's secrets onto the current version in their own transaction; an endpoint whose
    secrets changed meanwhile (rotated, deleted) is left for the next run."""
    async with ctx.uow(sealed.tenant_id) as uow:
        try:
            endpoint = await uow.notifications.get(sealed.e_id, for_update=True)
        except NotFound:
            return False
        if (endpoint.secret, *([endpoint.previous_secret] if endpoint.previous_secret else [])) != sealed.ciphertexts:
            return False
        plain = [_opened(ctx, sealed.e_id, c, result) for c in sealed.ciphertexts]
        if None in plain:
            return False
        endpoint.secret = ctx.cipher.encrypt(plain[0] or "", aad=sealed.e_id)
        if endpoint.previous_secret:
            endpoint.previous_secret = ctx.cipher.encrypt(plain[1] or "", aad=sealed.e_id)
        await uow.notifications.save(endpoint)
        await uow.commit()
    return True


async def _reinstall_webhooks(
    ctx: ServiceContext, result: SweepResult, progress: Progress | None, batch_size: int,
) -> None:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def reinstall(token: StoredToken) -> None:
        async with limit:
            if await _reinstall(ctx, token, result):
                result.webhooks_reinstalled += 1
                _tell(progress, "webhooks", result.webhooks_reinstalled)

    after = None
    while page := await ctx.scans.stale_webhook_page(after, batch_size, current_version=result.current):
        await asyncio.gather(*map(reinstall, page))
        after = page[-1].e_id


async def _reinstall(ctx: ServiceContext, token: StoredToken, result: SweepResult) -> bool:
    """``edit_webhook`` with the current password (HttpAuth username = configuration eId, SPEC §6)."""
    plaintext = _decrypted(ctx, token, result)
    if plaintext is None or token.webhook_id is None:
        return False
    try:
        await ctx.postmark.server(plaintext).edit_webhook(
            token.webhook_id, url=ctx.settings.webhook_url, username=token.e_id,
            password=ctx.webhook_secrets.current(token.e_id),
        )
    except Exception as exc:  # PostmarkError of any class: the row stays stale, the next run retries
        result.skipped[token.e_id] = f"edit_webhook failed: {exc}"
        return False
    await ctx.scans.mark_webhook_key_version(token.e_id, result.current)
    return True


def _decrypted(ctx: ServiceContext, token: StoredToken, result: SweepResult) -> str | None:
    return _opened(ctx, token.e_id, token.ciphertext, result, what="token")


def _opened(ctx: ServiceContext, e_id: str, ciphertext: str, result: SweepResult, what: str = "secret") -> str | None:
    """The plaintext of one sealed value (aad: its row's eId), or None with the reason recorded."""
    version = _version_of(ctx, ciphertext)
    if version not in ctx.cipher.versions():
        result.skipped[e_id] = f"{what} under key version {version!r}, not in the registry"
        return None
    try:
        return ctx.cipher.decrypt(ciphertext, aad=e_id)
    except Exception as exc:  # the cipher's DecryptionFailed: altered, or moved from another row
        result.skipped[e_id] = str(exc)
        return None


# --- removing a retired version ------------------------------------------------------------------


async def remove_version(ctx: ServiceContext, version: str, remove: Callable[[str], None]) -> None:
    """Remove ``version`` through ``remove`` (the registry's own writer) once nothing depends on it."""
    if version == ctx.cipher.current_version:
        raise KeyVersionInUse(version, "it is the current version; rotate first")
    status = await key_status(ctx)
    tokens = status.tokens_per_version.get(version, 0)
    if tokens:
        raise KeyVersionInUse(version, f"{tokens} stored token(s) are still under it; run the sweep")
    secrets = status.secrets_per_version.get(version, 0)
    if secrets:
        raise KeyVersionInUse(version, f"{secrets} notification signing secret(s) are still under it; run the sweep")
    webhooks = sum([1 async for t in _stale_webhooks(ctx, status.current) if t.webhook_key_version in (version, None)])
    if webhooks:
        raise KeyVersionInUse(version, f"{webhooks} webhook(s) may still authenticate with it; run the sweep")
    remove(version)


# --- paging helpers --------------------------------------------------------------------------------


def _tokens(ctx: ServiceContext, *, not_on: str | None = None, batch_size: int = BATCH_SIZE) -> AsyncIterator[StoredToken]:
    return _paged(lambda after: ctx.scans.token_page(after, batch_size, not_on_version=not_on))


def _secrets(ctx: ServiceContext, *, not_on: str | None = None, batch_size: int = BATCH_SIZE) -> AsyncIterator[StoredSecret]:
    return _paged(lambda after: ctx.scans.secret_page(after, batch_size, not_on_version=not_on))


def _stale_webhooks(ctx: ServiceContext, current: str) -> AsyncIterator[StoredToken]:
    return _paged(lambda after: ctx.scans.stale_webhook_page(after, BATCH_SIZE, current_version=current))


async def _paged(fetch: Callable[[str | None], Awaitable[list[Any]]]) -> AsyncIterator[Any]:
    """Every row of a keyset-paged listing, one page in memory at a time."""
    after = None
    while page := await fetch(after):
        for token in page:
            yield token
        after = page[-1].e_id


def _version_of(ctx: ServiceContext, ciphertext: str) -> str:
    try:
        return ctx.cipher.key_version(ciphertext)
    except Exception:  # the cipher's MalformedEnvelope
        return UNREADABLE


def _tell(progress: Progress | None, phase: str, done: int) -> None:
    if progress is not None:
        progress(phase, done)
