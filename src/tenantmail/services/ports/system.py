"""System-level (cross-tenant) access for scheduled jobs: drift scans, key sweeps, housekeeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from tenantmail.domain.configuration import EmailConfiguration
from tenantmail.domain.drift import DriftReport


@dataclass(frozen=True)
class StoredToken:
    """One configuration row's encrypted server token and webhook, as key sweeps see it."""

    e_id: str
    tenant_id: str
    ciphertext: str = field(repr=False)
    removed: bool
    webhook_id: int | None
    webhook_key_version: str | None  #: registry version of the installed webhook password


@dataclass(frozen=True)
class StoredSecret:
    """One notification endpoint's encrypted signing secrets, as key sweeps see them."""

    e_id: str
    tenant_id: str
    ciphertexts: tuple[str, ...] = field(repr=False)  #: the secret, then the previous one while it signs


class ConfigurationScans(Protocol):
    """Pages of configurations across every tenant (``adapters/db/scans.py``), keyset-paged by eId.

    Only system jobs use this; request paths stay on the tenant-scoped unit of work.
    """

    async def live_page(self, after: str | None, limit: int) -> list[EmailConfiguration]: ...  #: not REMOVED/PENDING
    async def count_live(self) -> int: ...
    async def count_by_state(self) -> dict[tuple[str, str], int]: ...  #: (operational, administrative) → n
    async def token_page(
        self, after: str | None, limit: int, *, not_on_version: str | None = None
    ) -> list[StoredToken]: ...
    async def stale_webhook_page(self, after: str | None, limit: int, *, current_version: str) -> list[StoredToken]: ...
    async def mark_webhook_key_version(self, e_id: str, version: str) -> None: ...
    async def secret_page(
        self, after: str | None, limit: int, *, not_on_version: str | None = None
    ) -> list[StoredSecret]: ...  #: notification endpoints' secrets, sealed with the same cipher


class Housekeeping(Protocol):
    """Cross-tenant clean-up of rows whose purpose has ended (``adapters/db/housekeeping.py``)."""

    async def purge_expired_idempotency(self, now: datetime, limit: int) -> int: ...
    async def purge_finished_notifications(self, before: datetime, limit: int) -> int: ...


class DriftReportStore(Protocol):
    """The kept drift reports (``email_drift_reports``): the latest is what operators read."""

    async def save(self, report: DriftReport) -> None: ...
    async def latest(self) -> DriftReport | None: ...
