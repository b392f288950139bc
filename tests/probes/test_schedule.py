"""The latency probe's schedule: a server stall is charged to every request due during it,
our own pacer's queueing is not."""

from __future__ import annotations

import time

from probes.exchange import Exchange
from probes.schedule import Schedule


def _sender(delays_s: list[float], queued_s: list[float]):
    """A `send` that really takes `delays_s[i]` (server time) after `queued_s[i]` of queueing."""
    calls = iter(zip(delays_s, queued_s, strict=True))

    def send() -> Exchange:
        delay, queued = next(calls)
        time.sleep(queued + delay)
        return Exchange(
            "GET", "http://t/x", "/x", {}, None, 200,
            latency_ms=delay * 1000, queued_ms=queued * 1000,
        )  # fmt: skip

    return send


def test_a_stall_is_carried_by_every_request_due_during_it() -> None:
    schedule = Schedule(interval_s=0.02)
    send = _sender([0.0, 0.3, 0.0, 0.0, 0.0, 0.0], [0.0] * 6)
    for _ in range(6):
        schedule.run(send, timeout_ms=5000)
    assert max(schedule.uncorrected) >= 300
    assert sorted(schedule.uncorrected)[-2] < 100  # closed loop: one slow sample only
    assert sum(1 for ms in schedule.corrected if ms > 200) >= 4  # the ones due during it


def test_queueing_on_our_own_pacer_is_not_latency() -> None:
    schedule = Schedule(interval_s=0.02)
    send = _sender([0.0] * 6, [0.0, 0.3, 0.0, 0.0, 0.0, 0.0])
    for _ in range(6):
        schedule.run(send, timeout_ms=5000)
    assert max(schedule.corrected) < 100, schedule.corrected


def test_no_answer_counts_as_at_least_the_timeout() -> None:
    schedule = Schedule(interval_s=0.01)
    schedule.run(lambda: Exchange("GET", "u", "/x", {}, None, None, error="timeout"), 2000)
    assert schedule.corrected == [2000] and schedule.uncorrected == [2000]
