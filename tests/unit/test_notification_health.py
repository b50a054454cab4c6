"""When an attempt's outcome writes the endpoint row (services/deliver_notifications._changes_health):
rarely — the first failure of a streak, a streak of 24 h, a 410, a success ending a streak a minute old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tenantmail.domain.notification import FAILING_WINDOW, AttemptOutcome, NotificationEndpoint
from tenantmail.services.deliver_notifications import STREAK_CLEARED_AFTER, _changes_health

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def endpoint(failing_for: timedelta | None) -> NotificationEndpoint:
    found = NotificationEndpoint.new(tenant_id="t", url="http://127.0.0.1/", event_types=(), description="",
                                     enabled=True, live=False, now=NOW)
    found.failing_since = None if failing_for is None else NOW - failing_for
    return found


@pytest.mark.parametrize(("failing_for", "outcome", "writes"), [
    (None, AttemptOutcome.DELIVERED, False),  # the common case
    (None, AttemptOutcome.RETRY, True),  # a streak starts
    (timedelta(seconds=10), AttemptOutcome.RETRY, False),  # inside a recorded streak
    (FAILING_WINDOW, AttemptOutcome.RETRY, True),  # 24 h: disable
    (timedelta(seconds=10), AttemptOutcome.DELIVERED, False),  # a young streak is left for a minute
    (STREAK_CLEARED_AFTER, AttemptOutcome.DELIVERED, True),  # then cleared
    (None, AttemptOutcome.GONE, True),
])
def test_only_changes_write_the_endpoint_row(failing_for: timedelta | None, outcome: AttemptOutcome, writes: bool) -> None:
    assert _changes_health(endpoint(failing_for), outcome, NOW) is writes
