"""The open model's arrival bookkeeping: due times, lateness, drops, unsent at stop."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtests.schedule import ArrivalSchedule


def test_on_time_requests_are_neither_late_nor_dropped() -> None:
    schedule = ArrivalSchedule(10.0, 100.0)
    claims = [schedule.claim(100.0 + i / 10) for i in range(5)]
    assert [c.intended_s for c in claims] == pytest.approx([100.0, 100.1, 100.2, 100.3, 100.4])
    assert not any(c.late or c.dropped for c in claims)


def test_a_stall_makes_requests_late_from_their_due_time() -> None:
    schedule = ArrivalSchedule(10.0, 0.0, late_after_s=0.01, drop_after_s=5.0)
    schedule.claim(0.0)
    claim = schedule.claim(1.0)  # the generator was blocked for a second
    assert claim.intended_s == pytest.approx(0.1) and claim.late and claim.dropped == 0


def test_too_overdue_requests_are_dropped_and_counted() -> None:
    schedule = ArrivalSchedule(10.0, 0.0, drop_after_s=1.0)
    claim = schedule.claim(3.0)
    assert claim.dropped == 20  # due at 0.0 .. 1.9 are more than 1 s overdue
    assert claim.intended_s == pytest.approx(2.0)


def test_finish_counts_what_was_due_but_never_sent() -> None:
    schedule = ArrivalSchedule(10.0, 0.0)
    schedule.claim(0.0)
    assert schedule.finish(0.55) == 5  # due at 0.1 .. 0.5
    assert schedule.finish(0.55) == 0


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        ArrivalSchedule(0.0, 0.0)
    with pytest.raises(ValueError):
        ArrivalSchedule(1.0, 0.0, late_after_s=2.0, drop_after_s=1.0)


@given(
    rate=st.floats(1.0, 5000.0),
    steps=st.lists(st.floats(0.0, 0.5), min_size=1, max_size=50),
)
def test_every_due_request_is_accounted_once(rate: float, steps: list[float]) -> None:
    """intended = sent + dropped + unsent, and due times never repeat or go back."""
    schedule = ArrivalSchedule(rate, 0.0, drop_after_s=0.2)
    now, sent, dropped, last = 0.0, 0, 0, -1.0
    for step in steps:
        now += step
        if schedule.next_due() > now:
            continue
        claim = schedule.claim(now)
        assert claim.intended_s > last
        last = claim.intended_s
        sent += 1
        dropped += claim.dropped
    unsent = schedule.finish(now)
    consumed = round(schedule.next_due() * rate)
    assert sent + dropped + unsent == consumed
    assert schedule.next_due() > now - 1e-9  # nothing due is left unaccounted
