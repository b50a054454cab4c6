"""When a transiently failed send is tried again (SPEC §5): exponential backoff with full jitter.

Postmark publishes no Retry-After, so the schedule is ours: ``base · 2^(attempt-1)`` capped at
``cap``, of which a random fraction is taken ("full jitter") so that many jobs failed by one burst
of 429s do not come back in lock-step. Past ``give_up`` after the job was accepted it is FAILED.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

RETRIES_EXHAUSTED = "retries_exhausted"


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 2.0
    cap_seconds: float = 300.0
    give_up_after: timedelta = timedelta(hours=24)

    def delay(self, attempt: int, rand: float | None = None) -> timedelta:
        """The wait after the ``attempt``-th failed try (1-based); ``rand`` in [0, 1) for tests."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        fraction = random.random() if rand is None else rand
        # never zero: a retry in the same instant would just meet the same burst again
        return timedelta(seconds=max(self.base_seconds / 2, ceiling * fraction))

    def next_attempt(self, *, accepted_at: datetime, attempt: int, now: datetime,
                     rand: float | None = None) -> datetime | None:
        """When to try again, or ``None`` when the job has been retried for long enough."""
        if now - accepted_at >= self.give_up_after:
            return None
        return now + self.delay(attempt, rand)
