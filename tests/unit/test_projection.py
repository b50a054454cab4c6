"""project(): monotonic toward more concerning, INCONSISTENT on a step back; and its property.

The property: any interleaving, duplication and reordering of a job's events leaves the same
stored events and the same final status as processing them in severity order — except when a less
concerning event arrives after a more concerning one, which leaves the job INCONSISTENT.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenantmail.domain.delivery_event import DeliveryEvent, EventKind
from tenantmail.domain.job import SEVERITY, JobStatus, project

S = JobStatus


@pytest.mark.parametrize("current,implied,expected", [
    (S.SENT, S.DELIVERED, S.DELIVERED),
    (S.SENT, S.BOUNCED, S.BOUNCED),
    (S.DELIVERED, S.BOUNCED, S.BOUNCED),  # a late asynchronous bounce
    (S.DELIVERED, S.COMPLAINED, S.COMPLAINED),
    (S.BOUNCED, S.BOUNCED, S.BOUNCED),
    (S.BOUNCED, S.DELIVERED, S.INCONSISTENT),
    (S.COMPLAINED, S.BOUNCED, S.INCONSISTENT),
    (S.COMPLAINED, S.DELIVERED, S.INCONSISTENT),
    (S.SENDING, S.DELIVERED, S.DELIVERED),  # the event raced the worker's commit of SENT
    (S.QUEUED, S.BOUNCED, S.BOUNCED),
    (S.INCONSISTENT, S.COMPLAINED, S.INCONSISTENT),  # kept for triage, never moves again
    (S.FAILED, S.DELIVERED, S.FAILED),
    (S.CANCELLED, S.DELIVERED, S.CANCELLED),
])
def test_project(current: JobStatus, implied: JobStatus, expected: JobStatus) -> None:
    assert project(current, implied) is expected


KINDS = [EventKind.DELIVERY, EventKind.HARD_BOUNCE, EventKind.SOFT_BOUNCE, EventKind.SPAM_COMPLAINT,
         EventKind.OPEN, EventKind.CLICK]
RECORD_TYPE = {EventKind.DELIVERY: "Delivery", EventKind.HARD_BOUNCE: "Bounce",
               EventKind.SOFT_BOUNCE: "Bounce", EventKind.SPAM_COMPLAINT: "SpamComplaint",
               EventKind.OPEN: "Open", EventKind.CLICK: "Click"}


def event(kind: EventKind, n: int) -> DeliveryEvent:
    bounce = n if RECORD_TYPE[kind] != "Delivery" else None
    return DeliveryEvent(RECORD_TYPE[kind], kind, 23, "msg", "a@b.c", None, "job", bounce_id=bounce)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[DeliveryEvent], list[DeliveryEvent]]:
    """(the job's distinct events, their arrival: every one at least once, shuffled, some twice)."""
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=6))
    distinct = [event(kind, n) for n, kind in enumerate(kinds)]
    repeats = draw(st.lists(st.sampled_from(distinct), max_size=6))
    arrival = draw(st.permutations(distinct + repeats))
    return distinct, arrival


def ingest(events: Iterable[DeliveryEvent], status: JobStatus = S.SENT) -> tuple[JobStatus, list[str]]:
    """The pure model of the service: store each dedup key once, project what is new."""
    stored: list[str] = []
    for e in events:
        key = e.dedup_key("tenant", "config")
        if key in stored:
            continue
        stored.append(key)
        if e.implied_status is not None:
            status = project(status, e.implied_status)
    return status, stored


def steps_back(events: Iterable[DeliveryEvent]) -> bool:
    """Whether, in first-arrival order, a less concerning outcome follows a more concerning one."""
    seen: set[str] = set()
    worst = -1
    for e in events:
        key = e.dedup_key("tenant", "config")
        if key in seen or e.implied_status is None:
            seen.add(key)
            continue
        seen.add(key)
        rank = SEVERITY.index(e.implied_status)
        if rank < worst:
            return True
        worst = max(worst, rank)
    return False


@given(deliveries())
def test_any_arrival_order_matches_severity_order_unless_it_steps_back(case) -> None:  # type: ignore[no-untyped-def]
    distinct, arrival = case
    in_order = sorted(distinct, key=lambda e: SEVERITY.index(e.implied_status or S.SENT))
    expected_status, expected_stored = ingest(in_order)
    status, stored = ingest(arrival)
    assert sorted(stored) == sorted(expected_stored)  # each event stored exactly once
    assert status is (S.INCONSISTENT if steps_back(arrival) else expected_status)


@given(deliveries())
def test_severity_order_ends_at_the_most_concerning_outcome(case) -> None:  # type: ignore[no-untyped-def]
    distinct, _ = case
    in_order = sorted(distinct, key=lambda e: SEVERITY.index(e.implied_status or S.SENT))
    implied = [SEVERITY.index(e.implied_status) for e in distinct if e.implied_status]
    assert ingest(in_order)[0] is SEVERITY[max(implied, default=0)]
