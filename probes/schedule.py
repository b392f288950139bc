"""The latency probe's open schedule: enough connections, requests at their intended times.

Why not a fixed schedule on one connection: when the interval is shorter
than the target's service time, requests queue inside the probe, and a
latency counted from when each was due is the probe's own backlog (a 90 ms
target on a 50 ms schedule "measured" 930 ms). Why not a closed loop either:
while one request waits out a one-second stall no other is sent, so the
stall is one slow sample among hundreds (coordinated omission).

So: Little's law sizes the connections (connections >= rate x service time,
with margin) from the service time of a few sequential warm-up requests (the
first samples, `sequential`); the connections are opened and warm before the
schedule starts (`Dispatcher.warm`, skipped when the client's pool is still as
a warming left it, `needs_warming`), and a dispatcher sends each request when
it is due on a free connection. A sample is the request's own
first-byte-to-last-byte latency. Only when all connections were held by the
target at the moment a request was due (the target got slower than in
warm-up: a stall) is the wait for one added to it; that is the
coordinated-omission correction, limited to the target's doing. Waiting
for our own pacer, our own threads or our own CPU is never charged; it is
measured as the probe's lateness, and a breach that the probe's lateness
could explain is not called a breach (see `ScheduleReport.probe_bound`).
When the probe itself runs late, the rest of the schedule moves back with
it instead of catching up in a burst, which would fill the connections by
our own doing.

Everything here is pure bookkeeping except `Dispatcher`, the thin threaded
shell; its clock and sleep are injected, so even it runs on a fake clock.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass

from probes.exchange import Exchange

POOL_CONNECTIONS = 16  # ProbeClient's pool: more would queue inside httpx, not at the target
MARGIN = 2.0  # connections for twice the expected concurrency, so jitter does not saturate them
LEAST_CONNECTIONS = 2  # one slow answer must never hold up the next request
# The probe's own schedule counts as kept when it achieved at least this share of its rate.
LEAST_ACHIEVED_RATIO = 0.5


@dataclass(frozen=True)
class Plan:
    """How many connections, at what rate: Little's law on the warm-up's service time."""

    budget_rate_per_s: float  # what the probe's rate budget allows
    rate_per_s: float  # the schedule's rate: the budget, or lower when the pool is too small
    connections: int
    service_ms: float  # the warm-up's service time the plan was sized from

    @property
    def interval_s(self) -> float:
        return 1 / self.rate_per_s

    @property
    def lowered(self) -> bool:
        return self.rate_per_s < self.budget_rate_per_s

    def describe(self) -> str:
        text = (
            f"{self.connections} connections at {self.rate_per_s:.3g} r/s "
            f"(service time {self.service_ms:.3g} ms in warm-up)"
        )
        if self.lowered:
            text += (
                f"; rate lowered from {self.budget_rate_per_s:.3g} r/s so that "
                f"{self.connections} connections suffice"
            )
        return text


def poisson_quantile(mean: float, probability: float) -> int:
    """The smallest k with P(N <= k) >= probability for N ~ Poisson(mean), exact."""
    if mean < 0 or not 0 < probability < 1:
        raise ValueError(f"bad Poisson quantile: mean {mean}, probability {probability}")
    k = 0
    term = math.exp(-mean)
    total = term
    while total < probability:
        k += 1
        term *= mean / k
        total += term
    return k


def plan_for(
    budget_rate_per_s: float,
    service_ms: float,
    *,
    allowed_ratio: float,
    tail_horizon_ms: float,
    pool: int = POOL_CONNECTIONS,
    margin: float = MARGIN,
    least: int = LEAST_CONNECTIONS,
) -> Plan:
    """Little's law with margin for the service time, and spare connections for the tail.

    Base: ceil(margin x rate x service time) + 1. A handful of warm-up
    requests sees the median service time, never the tail the SLA allows
    (`allowed_ratio` of answers may be slow), and with only the base, two
    slow answers at once hold every connection: the requests due meanwhile
    would be charged a wait a conforming target did not cause (measured:
    4 % of answers at 300 ms on 2 connections raised the exceedance share
    from 4.0 to 4.2 %, a false alarm in ~5 % of runs). So the spare covers,
    at 99.9 %, the slow answers of up to `tail_horizon_ms` that a conforming
    target can have in flight at once (Poisson with mean rate x allowed x
    horizon). The total stays within [least, pool].

    When the base alone would need more than `pool` connections, the rate
    comes down instead, to what `pool` connections carry with the same
    margin: a slower probe, but one that still measures the target rather
    than its own queue.
    """
    if budget_rate_per_s <= 0 or service_ms < 0:
        raise ValueError(f"bad plan input: rate {budget_rate_per_s}, service {service_ms} ms")
    if least > pool:
        raise ValueError(f"least ({least}) must not exceed the pool ({pool})")
    service_s = service_ms / 1000
    base = math.ceil(margin * budget_rate_per_s * service_s) + 1
    if base > pool:
        rate = (pool - 1) / (margin * service_s)
        return Plan(budget_rate_per_s, rate, pool, service_ms)
    slow_in_flight = budget_rate_per_s * allowed_ratio * tail_horizon_ms / 1000
    spare = poisson_quantile(slow_in_flight, 0.999)
    return Plan(
        budget_rate_per_s, budget_rate_per_s, min(pool, max(least, base + spare)), service_ms
    )


def service_time_ms(latencies_ms: Sequence[float | None], timeout_ms: float) -> float:
    """The warm-up's service time: the median, so one stalled warm-up request does not
    size the plan (an unanswered one counts as the timeout)."""
    if not latencies_ms:
        raise ValueError("no warm-up latencies")
    values = sorted(timeout_ms if v is None else v for v in latencies_ms)
    return values[(len(values) - 1) // 2]


@dataclass(frozen=True)
class Sent:
    """One scheduled request's timeline, in the injected clock's seconds."""

    index: int
    due: float  # when the schedule wanted it sent
    ready: float  # when the dispatcher was free to handle it (the previous one dispatched)
    woke: float  # when the dispatcher was awake for it
    acquired: float  # when a connection was free for it
    began: float  # when its worker started the request
    ended: float  # when the request returned
    latency_ms: float | None  # first byte sent to last byte received; None: no answer
    queued_ms: float = 0.0  # waiting for our own pacer, inside the request
    scheduled: bool = True  # False: a sequential warm-up request, sent before the schedule
    opened: bool = False  # it opened its connection (Exchange.opened)

    @property
    def first_byte(self) -> float:
        """When it went out; with no answer, after our pacer let it go."""
        if self.latency_ms is not None:
            return self.ended - self.latency_ms / 1000
        return min(self.ended, self.began + self.queued_ms / 1000)

    @property
    def cpu_lag_s(self) -> float:
        """How late our own threads ran for it: the dispatcher's wake-up, the worker's start.

        Neither is waiting for a connection or for the pacer; both are the
        machine not running us when asked, which would also slow our reading
        of the answers.
        """
        woke_late = self.woke - max(self.due, self.ready)
        return max(0.0, woke_late) + max(0.0, self.began - self.acquired)


def saturated(sent: Sequence[Sent], connections: int) -> list[tuple[float, float]]:
    """The intervals during which every connection was held by the target.

    A request holds its connection for the target from its first byte to
    its return; before (our pacer) and after (our bookkeeping), it is ours.
    """
    events: list[tuple[float, int]] = []
    for s in sent:
        start, end = s.first_byte, s.ended
        if end > start:
            events.append((start, 1))
            events.append((end, -1))
    events.sort(key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    intervals: list[tuple[float, float]] = []
    busy = 0
    opened = 0.0
    for at, change in events:
        before = busy
        busy += change
        if before < connections <= busy:
            opened = at
        elif busy < connections <= before and at > opened:
            intervals.append((opened, at))
    return intervals


def _overlap(start: float, end: float, intervals: Sequence[tuple[float, float]]) -> float:
    """Seconds of [start, end] inside the (sorted, disjoint) intervals."""
    first = bisect.bisect_left(intervals, (start,)) - 1
    total = 0.0
    for a, b in intervals[max(first, 0) :]:
        if a >= end:
            break
        total += max(0.0, min(end, b) - max(start, a))
    return total


@dataclass(frozen=True)
class Timing:
    """One request's figures, in milliseconds."""

    uncorrected_ms: float  # its own latency (the timeout when it got no answer)
    charged_ms: float  # its wait for a connection while all were held by the target
    lateness_ms: float  # how late the probe itself sent it (pacer, threads, CPU), not charged
    # The worst CPU lag of our threads around it: its own dispatch, and those due in its flight.
    cpu_lag_ms: float

    @property
    def corrected_ms(self) -> float:
        return self.uncorrected_ms + self.charged_ms


def account(sent: Sequence[Sent], connections: int, timeout_ms: float) -> list[Timing]:
    """Per request, in index order: its latency, the target's wait added, the probe's lateness."""
    ordered = sorted(sent, key=lambda s: s.index)
    full = saturated(ordered, connections)
    dues = [s.due for s in ordered]  # nondecreasing: the schedule's order
    lags = [s.cpu_lag_s for s in ordered]
    timings: list[Timing] = []
    for s in ordered:
        charged_s = _overlap(s.due, s.acquired, full) if s.acquired > s.due else 0.0
        lateness_s = max(0.0, s.first_byte - s.due - charged_s)
        flight = lags[bisect.bisect_left(dues, s.first_byte) : bisect.bisect_right(dues, s.ended)]
        uncorrected = timeout_ms if s.latency_ms is None else s.latency_ms
        timings.append(
            Timing(
                uncorrected_ms=uncorrected,
                charged_ms=charged_s * 1000,
                lateness_ms=lateness_s * 1000,
                cpu_lag_ms=max([s.cpu_lag_s, *flight]) * 1000,
            )
        )
    return timings


@dataclass(frozen=True)
class ScheduleReport:
    """What the schedule did: the samples, and whether the probe kept its own schedule."""

    plan: Plan
    timings: tuple[Timing, ...]
    achieved_rate_per_s: float  # the rate the probe itself kept, the target's waits left out
    queued_ms: float  # total time on our own pacer

    @property
    def corrected(self) -> list[float]:
        return [t.corrected_ms for t in self.timings]

    @property
    def uncorrected(self) -> list[float]:
        return [t.uncorrected_ms for t in self.timings]

    @property
    def kept_schedule(self) -> bool:
        return self.achieved_rate_per_s >= LEAST_ACHIEVED_RATIO * self.plan.rate_per_s

    def doubtful(self, threshold_ms: float, count: int) -> list[bool]:
        """Per judged sample: over the threshold, but by no more than our own CPU lag.

        Such an exceedance could be the probe's: a client that was not run for
        80 ms while an answer arrived reads a 150 ms answer as 230 ms.
        """
        return [
            t.corrected_ms > threshold_ms and t.corrected_ms - t.cpu_lag_ms <= threshold_ms
            for t in self.timings[:count]
        ]

    def without_doubt(self, threshold_ms: float, count: int) -> list[float]:
        """The judged samples with each doubtful exceedance put back at the threshold."""
        flags = self.doubtful(threshold_ms, count)
        return [
            threshold_ms if doubt else t.corrected_ms
            for t, doubt in zip(self.timings[:count], flags, strict=True)
        ]

    def probe_bound(self, breach_survives_doubt: bool) -> str | None:
        """Why a breach is the probe's limit rather than the target's, or None.

        `breach_survives_doubt`: the verdict still breaches once the doubtful
        exceedances are taken out (the caller judges, with its design).
        """
        if not self.kept_schedule:
            return (
                f"achieved {self.achieved_rate_per_s:.3g} r/s of {self.plan.rate_per_s:.3g} "
                f"planned (our pacer held requests {self.queued_ms:.0f} ms in all)"
            )
        if not breach_survives_doubt:
            worst = max((t.cpu_lag_ms for t in self.timings), default=0.0)
            return (
                f"achieved {self.achieved_rate_per_s:.3g} r/s of {self.plan.rate_per_s:.3g} "
                f"planned, but the probe's own threads ran up to {worst:.0f} ms late, "
                "enough by itself to put the exceedances over the threshold"
            )
        return None


def achieved_rate(sent: Sequence[Sent], timings: Sequence[Timing]) -> float:
    """The rate the probe kept on its schedule: each send at its due time plus the probe's
    own lateness (the sequential warm-up before it keeps no rate, and is left out)."""
    pairs = [
        (s, t)
        for s, t in zip(sorted(sent, key=lambda s: s.index), timings, strict=True)
        if s.scheduled
    ]
    if len(pairs) < 2:
        return math.inf
    first = pairs[0][0].due + pairs[0][1].lateness_ms / 1000
    last = pairs[-1][0].due + pairs[-1][1].lateness_ms / 1000
    span = last - first
    return math.inf if span <= 0 else (len(pairs) - 1) / span


def report(plan: Plan, sent: Sequence[Sent], timeout_ms: float) -> ScheduleReport:
    timings = account(sent, plan.connections, timeout_ms)
    return ScheduleReport(
        plan=plan,
        timings=tuple(timings),
        achieved_rate_per_s=achieved_rate(sent, timings),
        queued_ms=math.fsum(s.queued_ms for s in sent),
    )


def simulate(plan: Plan, count: int, service_ms: Callable[[int, float], float]) -> list[Sent]:
    """The dispatcher on an ideal machine against a target whose answer to request i,
    sent at time t (s), takes `service_ms(i, t)`.

    Pure: the benchmark's in-process runs and the self-tests use it to show
    what the correction charges, without a server or a clock. The target
    answers each request independently, as the reference server does.
    """
    free: list[float] = [0.0] * plan.connections  # when each connection is next free
    heapq.heapify(free)
    sent: list[Sent] = []
    ready = 0.0
    for i in range(count):
        due = i * plan.interval_s
        woke = max(due, ready)
        acquired = max(woke, heapq.heappop(free))
        delay = service_ms(i, acquired)
        ended = acquired + delay / 1000
        heapq.heappush(free, ended)
        sent.append(Sent(i, due, ready, woke, acquired, acquired, ended, delay))
        ready = acquired
    return sent


def needs_warming(planned: int, open_now: int | None, last: tuple[int, int] | None) -> bool:
    """Whether the connections must be warmed again before this endpoint's schedule.

    `last` is (connections the client's last warming asked for, connections its pool
    held open right after). Warming sends `planned` requests at once, which opens as
    many connections as they needed (on a fast target, fewer than asked: a request
    reuses one freed a moment before). When the pool still holds at least as many
    open as right after a warming for at least this many, it is as warm as warming
    would leave it, and the requests would be spent for nothing. None: the pool
    cannot tell (an injected transport), or it was never warmed.
    """
    if open_now is None or last is None:
        return True
    asked, opened = last
    return planned > asked or open_now < opened


def sequential(send: Callable[[], Exchange], count: int, clock: Callable[[], float]) -> list[Sent]:
    """`count` requests one after another, each sent when the last returned.

    The latency family's warm-up: one request in flight, as light a load as
    the schedule's, so each answer on a kept-alive connection is a sample like
    the schedule's (`warm_samples`); their median sizes the plan. Each is sent
    when due: no lateness, nothing to charge.
    """
    sent: list[Sent] = []
    for index in range(count):
        began = clock()
        exchange = send()
        sent.append(alone(index, began, clock(), exchange))
    return sent


def alone(index: int, began: float, ended: float, exchange: Exchange) -> Sent:
    """A request sent alone, before the schedule: due when sent, nothing to charge."""
    return Sent(
        index, began, began, began, began, began, ended, exchange.latency_ms,
        exchange.queued_ms, scheduled=False, opened=exchange.opened,
    )  # fmt: skip


def earlier(answers: Sequence[tuple[float, Exchange]]) -> list[Sent]:
    """The same request's answers from earlier in the run, each sent alone (`(when it was
    answered, exchange)`, on the dispatcher's clock): warm-up requests already made."""
    return [
        alone(index, ended - (exchange.latency_ms or 0.0) / 1000, ended, exchange)
        for index, (ended, exchange) in enumerate(answers)
    ]


def warm_samples(warmup: Sequence[Sent]) -> list[Sent]:
    """The warm-up requests that count as samples: those on a warm connection (one that
    opened its connection measured the handshake too), numbered from 0."""
    kept = [s for s in warmup if not s.opened]
    return [dataclasses.replace(s, index=i) for i, s in enumerate(kept)]


class Dispatcher:
    """The open schedule's shell: a dispatcher and `plan.connections` worker threads.

    The dispatcher sleeps until each request is due, takes a connection slot
    (a semaphore of `connections`, so at most that many requests are in
    flight and httpx never queues one of ours behind another), and hands the
    request to a worker. Exceptions from `send` (an open circuit breaker's
    `TargetUnavailable`, say) stop the dispatching and are raised from `run`.
    """

    def __init__(
        self,
        plan: Plan,
        send: Callable[[], Exchange],
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        executor: Executor | None = None,
    ) -> None:
        self.plan = plan
        self.send = send
        self.clock = clock
        self.sleep = sleep
        self._executor = executor or ThreadPoolExecutor(
            max_workers=plan.connections, thread_name_prefix="latency"
        )
        self._slots = threading.Semaphore(plan.connections)

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self._executor.shutdown(wait=True)

    def warm(self) -> list[Exchange]:
        """One request per connection, all at once: every connection open and warm."""
        futures = [self._executor.submit(self.send) for _ in range(self.plan.connections)]
        wait_all(futures)
        return [f.result() for f in futures]

    def run(
        self, limit: int, stop: Callable[[Sequence[Sent]], bool], after: Sequence[Sent] = ()
    ) -> list[Sent]:
        """Up to `limit` requests in all on the schedule, `after` (the sequential warm-up,
        already sent) counted first; `stop(done)` before each, `done` being the requests
        completed so far from the first on, in order, asked when each request is due.
        Returns every request sent."""
        futures: list[Future[Sent]] = []
        done: list[Sent] = list(after)
        start = self.clock()
        ready = start
        for i in range(len(after), limit):
            due = start + (i - len(after)) * self.plan.interval_s
            now = self.clock()
            if now < due:
                self.sleep(due - now)
            # Judged when the next request is due, not before the wait: the answers that
            # came in meanwhile (the last look's, usually) may decide, and then this
            # request is never sent.
            failed = self._collect(futures, done, len(after))
            if failed or stop(done):
                break
            woke = self.clock()
            # Our own lateness (the sleep overshot, the machine did not run us) moves the
            # rest of the schedule back rather than being caught up in a burst: a burst of
            # requests that were due during our stall would fill every connection at once,
            # and the wait for one would be charged to the target as if it had stalled
            # (seen on a loaded CI machine: a 90 ms target "measured" p95 162 ms). Waiting
            # for a connection (`ready` late) is the target's doing and is still caught up.
            start += max(0.0, woke - max(due, ready))
            self._slots.acquire()
            acquired = self.clock()
            futures.append(self._executor.submit(self._one, i, due, ready, woke, acquired))
            ready = self.clock()
        wait_all(futures)
        return [*after, *(f.result() for f in futures)]  # the first failure is raised here

    def _collect(self, futures: Sequence[Future[Sent]], done: list[Sent], prior: int) -> bool:
        """Move finished requests, in order, into `done` (after its `prior` ones); True when
        one raised."""
        while len(done) - prior < len(futures) and futures[len(done) - prior].done():
            future = futures[len(done) - prior]
            if future.exception() is not None:
                return True
            done.append(future.result())
        return any(f.done() and f.exception() is not None for f in futures[len(done) - prior :])

    def _one(self, index: int, due: float, ready: float, woke: float, acquired: float) -> Sent:
        try:
            began = self.clock()
            exchange = self.send()
            ended = self.clock()
        finally:
            self._slots.release()
        return Sent(
            index, due, ready, woke, acquired, began, ended, exchange.latency_ms, exchange.queued_ms
        )
