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
from collections import Counter
from collections.abc import Iterable, Sequence
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
# Disguised requests (probes/payloads/clients.py) per client-controlled input: never fewer
# than this, never more (see plan_spoof).
SPOOF_MIN_PER_INPUT = 7
SPOOF_MAX_PER_INPUT = 24


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
    """The disguised batch: requests per client-controlled input, inputs, how many at once."""

    per_input: int
    inputs: int
    workers: int

    @property
    def size(self) -> int:
        return self.per_input * self.inputs


def plan_spoof(
    rate_per_second: float, service_s: float | None, workers: int, inputs: int
) -> SpoofPlan:
    """Enough requests per input that one input's reset would show (see `spoofing_verdict`).

    While the batch outpaces the refill, every token that refills is taken by
    a request keyed on the peer, except those refilled after the batch's last
    send (about rate x S, more with jitter, plus one partial token). An input
    that resets the budget adds all of its c requests on top, so c must exceed
    that tail plus the allowance's rounding (2) with room to spare:
    c = ceil(1.5 x rate x S) + 6 (measured on loopback at 100 r/s with c = 5:
    a reset showed by only 2; at 180 ms with c = 14, once not at all).
    """
    if inputs < 1:
        raise ValueError("a disguised batch needs at least one input")
    tail = math.ceil(1.5 * rate_per_second * service_s) if service_s else 0
    per_input = min(SPOOF_MAX_PER_INPUT, max(SPOOF_MIN_PER_INPUT, tail + 6))
    return SpoofPlan(per_input, inputs, min(workers, per_input * inputs))


def tokens_since_empty(rate_per_second: float, elapsed_s: float, admitted: int) -> float:
    """Tokens a bucket refilling at `rate_per_second` holds `elapsed_s` after it was empty,
    having admitted `admitted` requests since (negative: it owes them)."""
    return rate_per_second * max(0.0, elapsed_s) - admitted


def spoof_allowance(rate_per_second: float, elapsed_s: float) -> int:
    """Disguised requests a conforming bucket may admit after a 429: what refilled, plus one."""
    return math.ceil(rate_per_second * max(0.0, elapsed_s)) + 1


def hidden_tokens(rate_per_second: float, tail_s: float) -> int:
    """Tokens a conforming bucket may hold unused at the batch's end: those refilled after
    its last send, when no request was left to take them, plus one partial token."""
    return math.ceil(rate_per_second * max(0.0, tail_s)) + 1


def spoofing_verdict(
    what: str,
    results: Sequence[tuple[str, Exchange]],
    *,
    rate_per_second: float,
    elapsed_s: float,
    tail_s: float,
) -> str | None:
    """Raise if disguised requests beat the refill; else None, or why the batch proves nothing.

    `results` pairs each request's client-controlled input with its answer.
    `elapsed_s` runs from the send of the last request the bucket refused
    (it was empty then) to the batch's last answer: every token the batch
    could have met; `tail_s` from the batch's last send to that answer. The
    failure names the inputs that got through, most first.

    A single input that resets the budget shows when both hold: the batch is
    larger than the allowance (if the refill outran the batch, every request
    keyed on the peer was admitted, and only the input's extra ones tell),
    and each input sent more than the allowance's rounding (2) plus the
    tokens that may lie unused at the end, with one to spare (the refill the
    peer's requests took was the refill, less that tail). If not, the
    returned reason says so.
    """
    allowance = spoof_allowance(rate_per_second, elapsed_s)
    sent: Counter[str] = Counter(name for name, _ in results)
    through: Counter[str] = Counter(
        name for name, e in results if e.status is not None and e.status != 429
    )
    admitted = sum(through.values())
    if admitted > allowance:
        first = next(e for _, e in results if e.status is not None and e.status != 429)
        by_input = ", ".join(f"{name} {n}/{sent[name]}" for name, n in through.most_common())
        raise ProbeFailure(
            f"{what}: a client-controlled input reset the budget: {admitted} of "
            f"{len(results)} disguised requests admitted while limited (at most {allowance} "
            f"refilled in {elapsed_s:.2f} s); admitted by input: {by_input}",
            exchange=first,
            measured=admitted,
            limit=allowance,
        )
    fewest = min(sent.values(), default=0)
    hidden = hidden_tokens(rate_per_second, tail_s)
    if allowance >= len(results) or fewest <= hidden + 3:
        return (
            f"probe-bound: {len(results)} disguised requests ({fewest} per input) took "
            f"{elapsed_s:.2f} s after the last 429 (offered "
            f"{offered_rate(len(results), elapsed_s):.0f} r/s, last answer {tail_s:.2f} s "
            f"after the last send); the refill of {rate_per_second:g} r/s explains up to "
            f"{allowance}, up to {hidden} of it unused, so one input's reset could not show"
        )
    return None
