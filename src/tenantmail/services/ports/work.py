"""Background work claimed with leases (``adapters/db/work_queue.py``, decisions D3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from tenantmail.domain.configuration import EmailConfiguration
from tenantmail.domain.job import EmailJob


@dataclass(frozen=True)
class ClaimedJob:
    job: EmailJob  #: its row as the claim left it: SENDING, under this worker's lease
    reclaimed: bool  #: it was SENDING under an expired lease: its worker died mid-call (ambiguous)

    @property
    def e_id(self) -> str:
        return self.job.e_id

    @property
    def tenant_id(self) -> str:
        return self.job.tenant_id

    @property
    def configuration_e_id(self) -> str:
        return self.job.configuration_e_id


@dataclass(frozen=True)
class JobClaim:
    """What one claim took, read in the claim itself: the jobs' rows and their configurations as
    they were when claimed (``configurations`` lacks one that is gone), so a pass goes from the
    claim to Postmark without reading them again.

    ``exhausted``: the claim took every job that was due and free when it ran, so the next claim
    can wait for new jobs (a wake-up) or a pass ending instead of running at once; False when it
    stopped at its limit or at a configuration's share and more may be due."""

    jobs: list[ClaimedJob]
    exhausted: bool
    configurations: Mapping[str, EmailConfiguration] = field(default_factory=dict)

    def configuration(self, tenant_id: str, e_id: str) -> EmailConfiguration | None:
        """The configuration of a claimed job of ``tenant_id``: None when it is gone or is another
        tenant's (a job never sends with a configuration that is not its own tenant's)."""
        found = self.configurations.get(e_id)
        return found if found is not None and found.tenant_id == tenant_id else None


@dataclass(frozen=True)
class ClaimedConfiguration:
    tenant_id: str
    e_id: str
    operational_status: str


class WorkQueue(Protocol):
    """Rows claimed under a lease by this worker (``owner``); a dead worker's lease expires and the
    row is claimed again. Periodic work fires once per cluster per tick (``claim_tick``)."""

    owner: str

    async def claim_jobs(
        self, now: datetime, limit: int, *, fair: bool = False, exclude_configurations: Sequence[str] = (),
    ) -> JobClaim:
        """``fair``: round-robin across configurations, else the oldest due first (SPEC §16)."""
        ...
    async def claim_configurations(
        self, statuses: Sequence[str], now: datetime, limit: int,
    ) -> list[ClaimedConfiguration]: ...
    async def release_configuration(self, e_id: str, *, next_check_at: datetime | None) -> None: ...
    async def claim_tick(self, name: str, interval: timedelta, now: datetime) -> bool: ...
    async def next_tick_due(self, name: str) -> datetime | None: ...


class JobWakeup(Protocol):
    """Wakes a waiting dispatch loop when new jobs are committed (SPEC §16; ``adapters/db/job_wakeup.py``).
    Only a hint: the loop polls anyway, so a lost wake-up delays a job by at most one poll."""

    def start(self) -> None:
        """Begin listening (a dispatch loop starts); before that nothing is heard."""
    def notify(self) -> None: ...
    def clear(self) -> None:
        """Before a claim: what is notified from here on wakes the next ``wait``."""
    async def wait(self, timeout: float) -> bool:
        """True when woken since ``clear``, False after ``timeout`` (the poll)."""
        ...
    async def close(self) -> None: ...
