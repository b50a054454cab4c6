"""Per-tenant send quotas (SPEC §17 "Quotas"): a rate with a burst, and a daily quota.

A tenant's limits are its overrides (``PUT /tenant-limits``; ``None`` = the default from settings)
over the defaults. The rate is a token bucket: it holds at most ``burst`` sends, refills at
``sends_per_second``, and every accepted send — a batch's messages one by one — takes one token
and one of the UTC day's ``sends_per_day``. A send that finds either empty is refused with 429 and
told when to retry. The bucket itself lives in the database (one row per tenant, updated
atomically in the statement that queues the send), so every API process shares it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from tenantmail.domain.errors import DomainError, InvalidInput

SECONDS_PER_DAY = 86_400
MAX_SENDS_PER_SECOND = 1_000_000.0
MAX_BURST = 1_000_000
MAX_SENDS_PER_DAY = 1_000_000_000


@dataclass(frozen=True)
class TenantLimits:
    """A tenant's overrides; ``None``: the default."""

    sends_per_second: float | None = None
    burst: int | None = None
    sends_per_day: int | None = None

    @classmethod
    def parse(cls, *, sends_per_second: float | None, burst: int | None, sends_per_day: int | None) -> TenantLimits:
        if sends_per_second is not None and not (0 < sends_per_second <= MAX_SENDS_PER_SECOND and math.isfinite(sends_per_second)):
            raise InvalidInput(f"sendsPerSecond must be above 0 and at most {MAX_SENDS_PER_SECOND:,.0f}")
        if burst is not None and not 1 <= burst <= MAX_BURST:
            raise InvalidInput(f"burst must be 1-{MAX_BURST:,}")
        if sends_per_day is not None and not 1 <= sends_per_day <= MAX_SENDS_PER_DAY:
            raise InvalidInput(f"sendsPerDay must be 1-{MAX_SENDS_PER_DAY:,}")
        return cls(sends_per_second, burst, sends_per_day)

    def over(self, defaults: EffectiveLimits) -> EffectiveLimits:
        return EffectiveLimits(
            sends_per_second=self.sends_per_second if self.sends_per_second is not None else defaults.sends_per_second,
            burst=self.burst if self.burst is not None else defaults.burst,
            sends_per_day=self.sends_per_day if self.sends_per_day is not None else defaults.sends_per_day,
        )


@dataclass(frozen=True)
class EffectiveLimits:
    sends_per_second: float
    burst: int
    sends_per_day: int

    def policy_header(self) -> str:
        """``RateLimit-Policy`` (IETF httpapi ratelimit-headers draft): the burst refilled over its
        window, and the day's quota."""
        window = max(1, math.ceil(self.burst / self.sends_per_second))
        return f'"burst";q={self.burst};w={window}, "daily";q={self.sends_per_day};w={SECONDS_PER_DAY}'


@dataclass(frozen=True)
class QuotaTake:
    """A send takes a token of its tenant's quota: the defaults for the limits the tenant does not
    override, and the time it is taken at (every process's clock: one host's, or NTP-close)."""

    defaults: EffectiveLimits
    now: datetime


class QuotaExceeded(DomainError):
    """429: the tenant's rate or daily quota is used up; ``retry_after`` seconds until a send fits."""

    status, kind = 429, "TooManyRequests"

    def __init__(self, limits: EffectiveLimits, *, tokens: float, day_count: int, now: datetime):
        daily = day_count >= limits.sends_per_day
        if daily:
            midnight = (math.floor(now.timestamp() / SECONDS_PER_DAY) + 1) * SECONDS_PER_DAY
            self.retry_after = max(1, math.ceil(midnight - now.timestamp()))
            message = f"the tenant's daily quota of {limits.sends_per_day} sends is used up (UTC day)"
        else:
            self.retry_after = max(1, math.ceil((1 - tokens) / limits.sends_per_second))
            message = f"the tenant sends more than {limits.sends_per_second:g}/s (burst {limits.burst})"
        super().__init__(f"{message}; retry after {self.retry_after} s", retryAfterSeconds=self.retry_after)
        self.limits, self.daily = limits, daily
        self.remaining = 0 if daily else max(0, math.floor(tokens))

    def headers(self) -> dict[str, str]:
        """``Retry-After``, ``RateLimit-Policy`` and ``RateLimit`` for the answer."""
        name = "daily" if self.daily else "burst"
        return {"Retry-After": str(self.retry_after), "RateLimit-Policy": self.limits.policy_header(),
                "RateLimit": f'"{name}";r={self.remaining};t={self.retry_after}'}
