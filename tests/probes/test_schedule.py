"""The latency probe's open schedule: Little's law sizing, what is charged to the target (a
stall's wait for a connection) and what is not (our pacer, our threads), on injected clocks."""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probes.exchange import Exchange
from probes.schedule import (
    Dispatcher,
    Plan,
    Sent,
    account,
    earlier,
    needs_warming,
    plan_for,
    poisson_quantile,
    report,
    saturated,
    sequential,
    service_time_ms,
    simulate,
    warm_samples,
)

TIMEOUT_MS = 10_000


def plan(rate: float = 20, service_ms: float = 10, **kw: Any) -> Plan:
    return plan_for(rate, service_ms, allowed_ratio=0.05, tail_horizon_ms=2000, **kw)


def sent(index: int, due: float, acquired: float, ended: float, latency_ms: float | None,
         queued_ms: float = 0.0, *, woke: float | None = None, began: float | None = None,
         ready: float | None = None) -> Sent:  # fmt: skip
    woke = due if woke is None else woke
    return Sent(index, due, due if ready is None else ready, woke, acquired,
                acquired if began is None else began, ended, latency_ms, queued_ms)  # fmt: skip


# Little's law -------------------------------------------------------------------------------


def test_poisson_quantile_known_values() -> None:
    assert poisson_quantile(0.0, 0.999) == 0
    assert poisson_quantile(1.0, 0.5) == 1  # P(N <= 0) = 0.37, P(N <= 1) = 0.74
    assert poisson_quantile(2.0, 0.999) == 8


def test_the_issue_target_gets_enough_connections() -> None:
    """90 ms answers at 20 r/s: 1.8 in flight on average; one connection queued them."""
    p = plan(20, 90)
    base = math.ceil(2 * 20 * 0.09) + 1
    assert p.connections >= base == 5
    assert p.rate_per_s == 20 and not p.lowered


def test_a_fast_target_still_gets_spare_connections_for_its_allowed_tail() -> None:
    assert plan(20, 0.5).connections == 2 + poisson_quantile(20 * 0.05 * 2, 0.999)
    assert plan_for(1, 0.5, allowed_ratio=0.05, tail_horizon_ms=0).connections == 2


def test_too_slow_for_the_pool_lowers_the_rate_instead() -> None:
    p = plan(20, 1000)  # 40 in flight with margin: more than 16
    assert p.connections == 16 and p.lowered
    assert 2 * p.rate_per_s * 1.0 + 1 <= 16 + 1e-9
    assert "rate lowered" in p.describe()


@given(st.floats(0.1, 100), st.floats(0, 5000), st.floats(0, 5000))
def test_plan_is_monotone_and_within_the_pool(rate: float, a: float, b: float) -> None:
    fast, slow = plan(rate, min(a, b)), plan(rate, max(a, b))
    assert 2 <= fast.connections <= slow.connections <= 16
    assert slow.rate_per_s <= fast.rate_per_s <= rate
    # Little's law with margin holds at the planned rate.
    assert math.ceil(2 * slow.rate_per_s * slow.service_ms / 1000 - 1e-9) + 1 <= slow.connections


def test_service_time_is_the_warm_up_median() -> None:
    assert service_time_ms([10, 1000, 12, 11, 9], TIMEOUT_MS) == 11
    assert service_time_ms([None, None, 5], TIMEOUT_MS) == TIMEOUT_MS
    with pytest.raises(ValueError):
        service_time_ms([], TIMEOUT_MS)


# What is charged ----------------------------------------------------------------------------


def stall(start_s: float, length_s: float, base_ms: float = 1.0) -> Callable[[int, float], float]:
    """The whole API stalls from `start_s` for `length_s`: an answer waits for its end."""

    def service(i: int, t: float) -> float:
        wait = start_s + length_s - t if start_s <= t < start_s + length_s else 0.0
        return base_ms + wait * 1000

    return service


def test_a_90ms_target_is_measured_as_90ms_not_as_our_queue() -> None:
    """The issue's false alarm: 50 ms interval, 90 ms answers, one connection -> p95 930 ms."""
    one = Plan(20, 20, 1, 90)
    queued = report(one, simulate(one, 40, lambda i, t: 90.0), TIMEOUT_MS)
    assert max(queued.corrected) > 500  # what one connection "measured"
    sized = plan(20, 90)
    measured = report(sized, simulate(sized, 40, lambda i, t: 90.0), TIMEOUT_MS)
    assert measured.corrected == measured.uncorrected == [90.0] * 40


def test_a_stall_is_carried_by_every_request_due_during_it() -> None:
    p = Plan(20, 20, 2, 1)
    schedule = report(p, simulate(p, 60, stall(1.0, 1.0)), TIMEOUT_MS)
    due_in_stall = [i for i in range(60) if 1.0 <= i * p.interval_s < 1.8]
    assert all(schedule.corrected[i] > 200 for i in due_in_stall)
    # A closed loop would show far fewer: only the two requests in flight met it themselves.
    assert sum(1 for ms in schedule.uncorrected if ms > 200) < len(due_in_stall)
    assert sum(1 for t in schedule.timings if t.charged_ms > 0) >= len(due_in_stall) - 2


def test_one_slow_answer_delays_no_other_request() -> None:
    p = plan(20, 10)
    service = lambda i, t: 1500.0 if i == 3 else 10.0  # noqa: E731
    schedule = report(p, simulate(p, 40, service), TIMEOUT_MS)
    assert schedule.corrected == schedule.uncorrected
    assert sum(1 for ms in schedule.corrected if ms > 200) == 1


def test_queueing_on_our_own_pacer_is_not_charged() -> None:
    # One connection, held 300 ms by request 0 waiting on our pacer, then 5 ms at the target.
    first = sent(0, due=0.0, acquired=0.0, ended=0.305, latency_ms=5, queued_ms=300)
    second = sent(1, due=0.05, acquired=0.305, ended=0.310, latency_ms=5)
    timings = account([first, second], 1, TIMEOUT_MS)
    # Request 1 waited 255 ms for the connection; only the last 5 were the target's.
    assert timings[0].charged_ms == 0.0
    assert timings[1].charged_ms == pytest.approx(5)
    assert timings[0].lateness_ms == pytest.approx(300)
    assert timings[1].lateness_ms == pytest.approx(250)


def test_the_wait_while_the_target_held_every_connection_is_charged() -> None:
    first = sent(0, due=0.0, acquired=0.0, ended=0.5, latency_ms=500)
    second = sent(1, due=0.05, acquired=0.5, ended=0.51, latency_ms=10)
    assert saturated([first, second], 1) == [(0.0, 0.5), (0.5, 0.51)]
    timings = account([first, second], 1, TIMEOUT_MS)
    assert timings[1].charged_ms == pytest.approx(450)
    assert timings[1].corrected_ms == pytest.approx(460)
    assert timings[1].lateness_ms == pytest.approx(0, abs=1e-9)


def test_no_answer_counts_as_the_timeout() -> None:
    lost = sent(0, due=0.0, acquired=0.0, ended=2.0, latency_ms=None)
    (timing,) = account([lost], 2, 2000)
    assert timing.uncorrected_ms == 2000 and timing.corrected_ms == 2000


# Whether the probe kept its schedule ----------------------------------------------------------


def test_a_probe_that_fell_behind_is_probe_bound_with_its_achieved_rate() -> None:
    p = Plan(20, 20, 4, 5)
    # Each request went out 100 ms after the one before instead of 50 ms: our pacer held it.
    late = [sent(i, due=i * 0.05, acquired=i * 0.05, ended=i * 0.1 + 0.005, latency_ms=5,
                 queued_ms=(i * 0.1 - i * 0.05) * 1000) for i in range(40)]  # fmt: skip
    schedule = report(p, late, TIMEOUT_MS)
    assert schedule.achieved_rate_per_s == pytest.approx(10)
    assert not schedule.kept_schedule
    reason = schedule.probe_bound(breach_survives_doubt=True)
    assert reason is not None and reason.startswith("achieved 10 r/s of 20 planned")


def test_a_kept_schedule_with_a_real_breach_is_not_probe_bound() -> None:
    p = Plan(20, 20, 4, 300)
    schedule = report(p, simulate(p, 40, lambda i, t: 300.0), TIMEOUT_MS)
    assert schedule.kept_schedule
    assert schedule.probe_bound(breach_survives_doubt=True) is None


def test_an_exceedance_within_our_own_cpu_lag_is_doubtful() -> None:
    # The dispatcher woke 80 ms late for request 1 while request 0 (230 ms) was in flight.
    slow = sent(0, due=0.0, acquired=0.0, ended=0.23, latency_ms=230)
    lagged = sent(1, due=0.05, acquired=0.13, ended=0.14, latency_ms=10, woke=0.13)
    fast = sent(2, due=0.15, acquired=0.15, ended=0.16, latency_ms=10, ready=0.14)
    schedule = report(Plan(20, 20, 2, 10), [slow, lagged, fast], TIMEOUT_MS)
    assert schedule.timings[0].cpu_lag_ms == pytest.approx(80)
    assert schedule.doubtful(200, 3) == [True, False, False]
    assert schedule.without_doubt(200, 3)[0] == 200
    reason = schedule.probe_bound(breach_survives_doubt=False)
    assert reason is not None and "80 ms late" in reason


# The threaded shell, on a fake clock ----------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Inline(Executor):
    """Runs each job at once on the calling thread: the dispatcher's order, deterministic."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # a future carries whatever was raised
            future.set_exception(exc)
        return future


def fake_send(clock: FakeClock, service_s: float, fail_at: int | None = None):
    calls = [0]

    def send() -> Exchange:
        calls[0] += 1
        if calls[0] == fail_at:
            raise RuntimeError("target unavailable")
        clock.now += service_s
        return Exchange("GET", "http://t/x", "/x", {}, None, 200, latency_ms=service_s * 1000)

    return send, calls


def test_dispatcher_sends_each_request_when_it_is_due() -> None:
    clock = FakeClock()
    send, _ = fake_send(clock, 0.01)
    p = Plan(20, 20, 3, 10)
    with Dispatcher(p, send, clock=clock, sleep=clock.sleep, executor=Inline()) as dispatcher:
        records = dispatcher.run(5, lambda done: False)
    assert [r.due - 100.0 for r in records] == pytest.approx([0, 0.05, 0.10, 0.15, 0.20])
    assert all(r.first_byte == pytest.approx(r.due) for r in records)
    assert clock.sleeps == pytest.approx([0.04] * 4)
    timings = report(p, records, TIMEOUT_MS).timings
    assert all(t.lateness_ms == pytest.approx(0, abs=1e-6) for t in timings)
    assert [t.corrected_ms for t in timings] == pytest.approx([10.0] * 5)


def test_dispatcher_that_ran_late_moves_the_schedule_back_instead_of_bursting() -> None:
    """The CI false alarm: the machine did not run the probe for 800 ms. Catching up would
    send the 16 requests due meanwhile at once, fill every connection by our own doing, and
    charge the wait for one to the target; instead the schedule moves back by the lag."""
    clock = FakeClock()
    send, _ = fake_send(clock, 0.01)
    overshoot = iter([0.8])

    def sleep(seconds: float) -> None:
        clock.sleep(seconds + (next(overshoot, 0.0) if len(clock.sleeps) == 2 else 0.0))

    p = Plan(20, 20, 3, 10)
    with Dispatcher(p, send, clock=clock, sleep=sleep, executor=Inline()) as dispatcher:
        records = dispatcher.run(8, lambda done: False)
    sends = [r.first_byte for r in records]
    gaps = [b - a for a, b in itertools.pairwise(sends)]
    assert min(gaps) == pytest.approx(p.interval_s)  # never two at once
    assert records[3].cpu_lag_s == pytest.approx(0.8)  # the late one is recorded as ours
    schedule = report(p, records, TIMEOUT_MS)
    assert all(t.charged_ms == 0 for t in schedule.timings)
    assert schedule.timings[3].lateness_ms == pytest.approx(800)
    assert all(t.lateness_ms == pytest.approx(0, abs=1e-6) for t in schedule.timings[4:])


def test_dispatcher_stops_when_the_verdict_is_in() -> None:
    clock = FakeClock()
    send, calls = fake_send(clock, 0.001)
    p = Plan(20, 20, 2, 1)
    seen: list[int] = []

    def stop(done) -> bool:
        seen.append(len(done))
        return len(done) >= 3

    with Dispatcher(p, send, clock=clock, sleep=clock.sleep, executor=Inline()) as dispatcher:
        records = dispatcher.run(100, stop)
    assert len(records) == 3 and calls[0] == 3
    assert seen == [0, 1, 2, 3]


def test_earlier_answers_are_warm_up_samples_sent_alone() -> None:
    """Another family's answers to the same request: unscheduled, nothing charged, and one
    that opened its connection is dropped as a warm-up request that did would be."""
    answers = [
        (10.5, Exchange("GET", "http://t/x", "/x", {}, None, 200, latency_ms=20.0, opened=True)),
        (12.0, Exchange("GET", "http://t/x", "/x", {}, None, 200, latency_ms=8.0)),
    ]
    made = earlier(answers)
    assert [(s.index, s.scheduled, s.latency_ms) for s in made] == [
        (0, False, 20.0),
        (1, False, 8.0),
    ]
    assert made[1].first_byte == pytest.approx(11.992) and made[1].due == made[1].began
    kept = warm_samples(made)
    assert [s.latency_ms for s in kept] == [8.0]
    assert [t.corrected_ms for t in account(kept, 2, TIMEOUT_MS)] == [8.0]


def test_dispatcher_judges_the_answers_that_came_in_while_it_waited() -> None:
    """The deciding look's last answer arrives while the dispatcher waits for the next
    request's due time: that request is never sent (it was, one per endpoint, when the
    verdict was asked before the wait). Real threads and clock: each answer is instant,
    the schedule 5 a second, so every answer is in long before the next is due."""
    calls = [0]

    def send() -> Exchange:
        calls[0] += 1
        return Exchange("GET", "http://t/x", "/x", {}, None, 200, latency_ms=0.1)

    p = Plan(5, 5, 2, 0.1)
    with Dispatcher(p, send, clock=time.perf_counter, sleep=time.sleep) as dispatcher:
        records = dispatcher.run(100, lambda done: len(done) >= 3)
    assert len(records) == 3 and calls[0] == 3


def test_dispatcher_raises_what_a_worker_raised_and_stops_sending() -> None:
    clock = FakeClock()
    send, calls = fake_send(clock, 0.001, fail_at=3)
    p = Plan(20, 20, 2, 1)
    with (
        Dispatcher(p, send, clock=clock, sleep=clock.sleep, executor=Inline()) as dispatcher,
        pytest.raises(RuntimeError, match="target unavailable"),
    ):
        dispatcher.run(100, lambda done: False)
    assert calls[0] == 3


def test_the_warm_up_is_the_first_samples_and_the_schedule_follows_it() -> None:
    clock = FakeClock()
    send, calls = fake_send(clock, 0.004)
    warm = sequential(send, 5, clock)
    assert [s.index for s in warm] == [0, 1, 2, 3, 4] and calls[0] == 5
    assert all(s.due == s.began and s.latency_ms == 4.0 for s in warm)
    seen: list[int] = []

    def stop(done: Sequence[Sent]) -> bool:
        seen.append(len(done))
        return len(done) >= 8

    with Dispatcher(Plan(20, 20, 2, 4), send, clock=clock, sleep=clock.sleep,
                    executor=Inline()) as dispatcher:  # fmt: skip
        sent = dispatcher.run(20, stop, after=warm)
    assert seen[0] == 5  # the first look already counts the warm-up
    assert [s.index for s in sent] == list(range(len(sent))) and sent[:5] == warm
    assert len(sent) == 8 and calls[0] == 8
    timings = report(Plan(20, 20, 2, 4), sent, 1000).timings
    assert all(t.charged_ms == 0 and t.lateness_ms == 0 for t in timings[:5])


def test_a_warm_up_request_that_opened_its_connection_is_no_sample() -> None:
    clock = FakeClock()
    opened = iter([True, False, False])

    def send() -> Exchange:
        clock.now += 0.01
        return Exchange("GET", "http://t/x", "/x", {}, None, 200, latency_ms=10.0,
                        opened=next(opened))  # fmt: skip

    warm = sequential(send, 3, clock)
    assert [s.opened for s in warm] == [True, False, False]
    samples = warm_samples(warm)
    assert [s.index for s in samples] == [0, 1] and not any(s.opened for s in samples)
    assert samples[0].began == warm[1].began


def test_warm_up_opens_one_request_per_connection() -> None:
    clock = FakeClock()
    send, calls = fake_send(clock, 0.001)
    with Dispatcher(Plan(20, 20, 5, 1), send, clock=clock, sleep=clock.sleep,
                    executor=Inline()) as dispatcher:  # fmt: skip
        assert len(dispatcher.warm()) == 5
    assert calls[0] == 5


@pytest.mark.parametrize(
    ("planned", "open_now", "last", "needed"),
    [
        (15, 7, (15, 7), False),  # the pool as the last warming left it
        (12, 9, (15, 7), False),  # more open, for fewer asked
        (15, 6, (15, 7), True),  # the server closed one while idle
        (16, 7, (15, 7), True),  # this plan asks for more
        (15, 7, None, True),  # never warmed
        (15, None, (15, 7), True),  # an injected transport cannot tell
    ],
)
def test_warming_again_only_when_the_pool_lost_what_a_warming_gave(
    planned: int, open_now: int | None, last: tuple[int, int] | None, needed: bool
) -> None:
    assert needs_warming(planned, open_now, last) is needed


def test_a_slow_warm_up_does_not_count_against_the_schedules_rate() -> None:
    """Five sequential 250 ms answers keep 4 r/s by design; the schedule after them is judged."""
    plan = Plan(20, 20, 8, 250)
    warm = [
        Sent(i, t, t, t, t, t, t + 0.25, 250.0, scheduled=False)
        for i, t in enumerate([-1.25, -1.0, -0.75, -0.5, -0.25])
    ]
    scheduled = [
        dataclasses.replace(s, index=s.index + len(warm))
        for s in simulate(plan, 10, lambda i, t: 250.0)
    ]
    assert report(plan, [*warm, *scheduled], TIMEOUT_MS).kept_schedule
    as_if_scheduled = [dataclasses.replace(s, scheduled=True) for s in warm]
    assert not report(plan, [*as_if_scheduled, *scheduled], TIMEOUT_MS).kept_schedule
