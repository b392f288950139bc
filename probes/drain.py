"""How hard the rate-limit probe must push, and when its silence means nothing: pure maths.

Draining a token bucket only proves something if the probe offers requests
faster than the bucket refills. A client with W connections to a target that
answers in S seconds offers at most W / S requests a second (Little's law),
so against a slow target a fixed handful of threads can never empty the
bucket, and "no 429" would blame the target for the probe's own limit. This
module sizes the concurrency from the measured service time and says, after
the fact, whether what was actually offered could have revealed a breach.
The probe module does the I/O and the clock; everything here takes numbers.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NoReturn

from probes.checks import ProbeFailure, limit_slack
from probes.exchange import POOL_CONNECTIONS, Exchange
from probes.outcomes import Inconclusive

# The offered rate must beat the refill by this share of it (1.0: twice the refill),
# so "no 429" is the target's doing and not a near miss of the probe's.
MARGIN_RATIO = 1.0
# Workers beyond Little's law for what the one-at-a-time latency leaves out:
# the worker loop, thread scheduling, a shared CPU, a round cut short by the
# budget. Measured: 13 threads at 103 ms took 125 ms a round on 2 busy cores.
HEADROOM_RATIO = 0.5
# Never fewer than the probe's former fixed concurrency: against a fast target
# the CPU, not the connections, sets the rate, and a few spare threads keep a
# GC pause or a busy core from stalling the whole drain.
MIN_WORKERS = 8
# ProbeClient's pool (POOL_CONNECTIONS): more threads would only queue inside
# the client, and the queue is not offered to the target.
# Requests timed before the drain; their tokens are waited back before it starts.
SERVICE_SAMPLES = 3
# Spoofed X-Forwarded-For batch: never fewer than this, never more.
SPOOF_MIN = 20
SPOOF_MAX = 64


def drain_budget(burst: int) -> int:
    """How many requests the drain may send: three bursts, room for any in-tolerance bucket."""
    return burst + max(2, burst) + burst


def service_seconds(latencies_ms: Iterable[float | None]) -> float | None:
    """The median of the timed answers, in seconds; None when none came back.

    The median, not the slowest: the first request may open the connection
    (a handshake and, over TLS, more round trips) and would double the
    figure the inconclusive verdict reports. Too low a figure cannot pass
    for a breach: the verdict judges the rate the drain actually reached.
    """
    answered = [ms for ms in latencies_ms if ms is not None]
    return statistics.median(answered) / 1000 if answered else None


def required_rate(
    rate_per_second: float,
    burst: int,
    tolerance_ratio: float,
    budget: int,
    margin_ratio: float = MARGIN_RATIO,
) -> float:
    """The lowest offered rate (requests/s) at which "no 429 within `budget`" is a breach.

    Twice the refill (with the default margin), or more when the tolerance
    needs it: at offered rate R a bucket of `burst + slack` runs dry after
    (burst + slack) * R / (R - rate) requests, which must fit in the budget,
    so R >= rate * budget / (budget - burst - slack). Infinite when no rate
    can drain such a bucket within the budget.
    """
    headroom = budget - burst - limit_slack(burst, tolerance_ratio)
    if headroom <= 0:
        return math.inf
    return max(rate_per_second * (1 + margin_ratio), rate_per_second * budget / headroom)


@dataclass(frozen=True)
class DrainPlan:
    """The drain's concurrency and what it should achieve."""

    workers: int
    needed_workers: int  # what the required rate needs, before the pool's cap
    required_rate_per_second: float
    service_s: float | None  # None: not measured, the whole pool is used

    @property
    def capped(self) -> bool:
        """The pool holds fewer connections than the required rate needs."""
        return self.needed_workers > self.workers

    @property
    def predicted_rate_per_second(self) -> float:
        """What `workers` connections offer at the measured service time (Little's law)."""
        if not self.service_s:
            return math.inf
        return self.workers / self.service_s

    def describe(self) -> str:
        """`16 connections at 180 ms service time (the rate needs 23; the pool holds 16)`."""
        shown = f"{self.service_s * 1000:.0f} ms" if self.service_s is not None else "unmeasured"
        text = f"{self.workers} connections at {shown} service time"
        if self.capped:
            text += f" (the rate needs {self.needed_workers}; the pool holds {self.workers})"
        return text


def plan_drain(
    rate_per_second: float,
    burst: int,
    tolerance_ratio: float,
    service_s: float | None,
    *,
    budget: int,
    cap: int = POOL_CONNECTIONS,
    margin_ratio: float = MARGIN_RATIO,
) -> DrainPlan:
    """Enough workers that workers / service time beats the required rate, within the pool."""
    required = required_rate(rate_per_second, burst, tolerance_ratio, budget, margin_ratio)
    if service_s is None or not math.isfinite(required):
        needed = cap
    else:
        needed = math.ceil(required * service_s * (1 + HEADROOM_RATIO) - 1e-9)
    needed = max(MIN_WORKERS, needed)
    return DrainPlan(min(needed, cap), needed, required, service_s)


def offered_rate(sent: int, elapsed_s: float) -> float:
    """Requests per second the probe actually sent (infinite for an instant)."""
    return sent / elapsed_s if elapsed_s > 0 else math.inf


def unlimited_drain(
    what: str,
    *,
    sent: int,
    admitted: int,
    elapsed_s: float,
    rate_per_second: float,
    burst: int,
    window_latest: int,
    plan: DrainPlan,
) -> NoReturn:
    """The verdict on a drain that met no 429: always raises.

    A breach (`ProbeFailure`) only when the probe offered at least the
    required rate and admitted more than any in-tolerance bucket could have;
    otherwise the probe was the limit and says so (`Inconclusive`), with the
    rate it reached.
    """
    offered = offered_rate(sent, elapsed_s)
    if offered >= plan.required_rate_per_second and admitted > window_latest:
        raise ProbeFailure(
            f"{what}: no 429 after {sent} requests in {elapsed_s:.2f} s, offered "
            f"{offered:.0f} r/s (limit: burst {burst}, {rate_per_second:g}/s)",
            measured=admitted,
            limit=window_latest,
        )
    raise Inconclusive(
        f"probe-bound: offered {offered:.0f} r/s, the refill is {rate_per_second:g} r/s: "
        f"no 429 after {sent} requests in {elapsed_s:.2f} s proves nothing below "
        f"{plan.required_rate_per_second:.0f} r/s; {plan.describe()}"
    )


@dataclass(frozen=True)
class SpoofPlan:
    """The spoofed X-Forwarded-For batch: how many, how many at once."""

    size: int
    workers: int


def plan_spoof(
    rate_per_second: float,
    service_s: float | None,
    workers: int,
    margin_ratio: float = MARGIN_RATIO,
) -> SpoofPlan:
    """A batch large enough that a reset would stand out of what the refill explains.

    The allowance is the refill from the last 429 (sent about one service
    time before the batch starts) to the batch's end: rate * (S + n / B) + 1
    for n requests at B = workers / S. The batch should exceed it by the
    margin: n >= (1 + m) * allowance, solved for n; the largest batch when
    B cannot outrun (1 + m) times the refill.
    """
    if not service_s:
        return SpoofPlan(SPOOF_MIN, min(workers, SPOOF_MIN))
    batch_rate = workers / service_s
    factor = 1 + margin_ratio
    spare = 1 - factor * rate_per_second / batch_rate
    if spare <= 0:
        size = SPOOF_MAX
    else:
        size = math.ceil(factor * (rate_per_second * service_s + 1) / spare)
    size = min(SPOOF_MAX, max(SPOOF_MIN, size))
    return SpoofPlan(size, min(workers, size))


def spoof_allowance(rate_per_second: float, elapsed_s: float) -> int:
    """Spoofed requests a conforming bucket may admit after a 429: what refilled, plus one."""
    return math.ceil(rate_per_second * max(0.0, elapsed_s)) + 1


def spoofing_verdict(
    what: str,
    admitted: list[Exchange],
    *,
    size: int,
    rate_per_second: float,
    elapsed_s: float,
) -> str | None:
    """Raise if spoofed requests beat the refill; else None, or why the batch proves nothing.

    `elapsed_s` runs from the send of the last request the bucket refused
    (it was empty then) to the batch's last answer: every token the batch
    could have met. When that allowance reaches the batch size, even a
    server that resets the budget per header would pass: the returned reason
    (an inconclusive verdict, for the caller to raise after its other checks).
    """
    allowance = spoof_allowance(rate_per_second, elapsed_s)
    if len(admitted) > allowance:
        raise ProbeFailure(
            f"{what}: X-Forwarded-For reset the budget: {len(admitted)} of {size} "
            f"spoofed requests admitted while limited (at most {allowance} refilled "
            f"in {elapsed_s:.2f} s)",
            exchange=admitted[0],
            measured=len(admitted),
            limit=allowance,
        )
    if allowance >= size:
        return (
            f"probe-bound: {size} spoofed X-Forwarded-For requests took {elapsed_s:.2f} s "
            f"after the last 429 (offered {offered_rate(size, elapsed_s):.0f} r/s); the "
            f"refill of {rate_per_second:g} r/s explains up to {allowance}, so a reset "
            "could not show"
        )
    return None
