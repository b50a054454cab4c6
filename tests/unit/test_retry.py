"""Backoff with full jitter, capped, giving up after a day (SPEC §5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tenantmail.domain.retry import RetryPolicy

POLICY = RetryPolicy(base_seconds=2.0, cap_seconds=300.0, give_up_after=timedelta(hours=24))
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_ceiling_doubles_per_attempt_until_the_cap() -> None:
    ceilings = [POLICY.delay(attempt, rand=0.999999).total_seconds() for attempt in range(1, 11)]
    assert [round(c) for c in ceilings[:5]] == [2, 4, 8, 16, 32]
    assert max(ceilings) <= 300.0 and round(ceilings[-1]) == 300


@given(attempt=st.integers(1, 60), rand=st.floats(0, 1, exclude_max=True))
def test_a_delay_is_never_zero_and_never_beyond_the_cap(attempt: int, rand: float) -> None:
    delay = POLICY.delay(attempt, rand=rand).total_seconds()
    assert 1.0 <= delay <= 300.0


def test_jitter_spreads_retries_of_the_same_attempt() -> None:
    delays = {POLICY.delay(6).total_seconds() for _ in range(20)}
    assert len(delays) > 1


def test_next_attempt_is_later_than_now_within_the_window() -> None:
    now = T0 + timedelta(hours=3)
    assert POLICY.next_attempt(accepted_at=T0, attempt=3, now=now, rand=0.5) == now + timedelta(seconds=4)


def test_after_a_day_there_is_no_next_attempt() -> None:
    assert POLICY.next_attempt(accepted_at=T0, attempt=40, now=T0 + timedelta(hours=24)) is None
