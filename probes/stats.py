"""Latency statistics and the SLA verdict, pure.

The verdict is on the tail, never on the mean: a sample either exceeds the
threshold or not, and "p95 < 200 ms" is the claim that at most 5 % of
requests exceed it, so each endpoint's evidence is a count of exceedances,
judged with the exact binomial distribution.

The count is looked at repeatedly (after `min_samples`, then after every
`batch`, up to `max_samples`), and a fresh test at each look would raise a
false alarm far more often than its nominal level: with six looks at 5 %
each, close to 15 % of conforming endpoints would "breach" at least once.
The looks are therefore a group-sequential design: boundaries at each look
whose exact probability of ever being crossed, over all looks together, is
at most the error allowed (computed by dynamic programming over the count,
no approximation). Across the endpoints of one run the breach error is split
Bonferroni-style (Holm's first step), so the whole run raises a false alarm
in at most `1 - confidence` of runs, whatever the number of endpoints.

Three outcomes: met (confident the SLA holds), breach (confident it does
not), inconclusive (the samples allowed could not tell). Inconclusive is
never turned into pass or fail on the point estimate: that is the flapping
verdict the design exists to avoid.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Side = Literal["upper", "lower"]


class Decision(StrEnum):
    MET = "met"
    BREACH = "breach"
    INCONCLUSIVE = "inconclusive"  # every look taken, no boundary crossed
    CONTINUE = "continue"  # looks remain and none decided yet: take more samples


@dataclass(frozen=True)
class Summary:
    samples: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: an observed value, never an interpolation between two."""
    if not samples:
        raise ValueError("no samples")
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {q}")
    ordered = sorted(samples)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def summarize(samples: Sequence[float]) -> Summary:
    return Summary(
        samples=len(samples),
        p50_ms=percentile(samples, 50),
        p95_ms=percentile(samples, 95),
        p99_ms=percentile(samples, 99),
        max_ms=max(samples),
        mean_ms=sum(samples) / len(samples),
    )


# Exact binomial ------------------------------------------------------------------------------


def binomial_pmf(k: int, n: int, p: float) -> float:
    """P(X = k) for X ~ Binomial(n, p), in logs so that n in the thousands cannot overflow."""
    if k < 0 or k > n:
        return 0.0
    if p <= 0.0:
        return 1.0 if k == 0 else 0.0
    if p >= 1.0:
        return 1.0 if k == n else 0.0
    log = (
        math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        + k * math.log(p) + (n - k) * math.log1p(-p)
    )  # fmt: skip
    return math.exp(log)


@functools.cache  # the design's bisection asks for the same tails at every step
def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exact (summed from the small end of the tail)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return min(1.0, math.fsum(binomial_pmf(i, n, p) for i in range(k, n + 1)))


@functools.cache
def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), exact."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return min(1.0, math.fsum(binomial_pmf(i, n, p) for i in range(0, k + 1)))


def samples_for_confident_pass(percentile_q: float, confidence: float) -> int:
    """Fewest samples that could prove the SLA with zero exceedances in one fixed test.

    59 for p95 at 95 %; the sequential design needs a few more, since its
    met boundary pays for the repeated looks.
    """
    allowed = 1 - percentile_q / 100
    return math.ceil(math.log(1 - confidence) / math.log(1 - allowed))


# The group-sequential design -----------------------------------------------------------------


def look_sizes(min_samples: int, batch: int, max_samples: int) -> tuple[int, ...]:
    """The sample counts at which the verdict is looked at: min, min + batch, ..., max."""
    if min_samples < 1 or batch < 1 or max_samples < min_samples:
        raise ValueError(f"bad looks: min {min_samples}, batch {batch}, max {max_samples}")
    sizes = list(range(min_samples, max_samples + 1, batch))
    if sizes[-1] != max_samples:
        sizes.append(max_samples)
    return tuple(sizes)


def _advance(mass: list[float], step: int, p: float) -> list[float]:
    """The count's distribution after `step` more Bernoulli(p) samples (a convolution)."""
    if step == 0:
        return list(mass)
    pmf = [binomial_pmf(j, step, p) for j in range(step + 1)]
    out = [0.0] * (len(mass) + step)
    for x, weight in enumerate(mass):
        if weight == 0.0:
            continue
        for j, q in enumerate(pmf):
            out[x + j] += weight * q
    return out


def crossing_probabilities(
    looks: Sequence[int], bounds: Sequence[int], p: float, side: Side
) -> list[float]:
    """P(the count first crosses at look k), for each k, when each sample exceeds with prob `p`.

    Upper side: crossing at look k means X_k >= bounds[k]; lower side, X_k <= bounds[k].
    Exact: the distribution of the count over the paths that have not
    crossed yet is carried from look to look, so no path is counted twice.
    """
    if len(looks) != len(bounds):
        raise ValueError("one bound per look")
    mass = [1.0]  # P(X_0 = 0) = 1
    taken = 0
    first: list[float] = []
    for n, bound in zip(looks, bounds, strict=True):
        mass = _advance(mass, n - taken, p)
        taken = n
        crossed = 0.0
        for x in range(len(mass)):
            if (x >= bound) if side == "upper" else (x <= bound):
                crossed += mass[x]
                mass[x] = 0.0
        first.append(crossed)
    return first


def crossing_probability(
    looks: Sequence[int], bounds: Sequence[int], p: float, side: Side
) -> float:
    """P(the count ever crosses the boundary at one of the looks), exact."""
    return min(1.0, math.fsum(crossing_probabilities(looks, bounds, p, side)))


def per_look_bounds(looks: Sequence[int], p0: float, level: float, side: Side) -> tuple[int, ...]:
    """Each look's own exact level-`level` bound at p0 (the Pocock-type constant nominal level).

    Upper: the smallest c with P(X_n >= c) <= level (n + 1 when none: this
    look cannot decide). Lower: the largest d with P(X_n <= d) <= level (-1 when none).
    """
    bounds: list[int] = []
    for n in looks:
        if side == "upper":
            c = math.floor(n * p0)  # below the mean the tail is never small
            while c <= n and binomial_sf(c, n, p0) > level:
                c += 1
            bounds.append(c)
        else:
            d = -1
            while d + 1 <= n and binomial_cdf(d + 1, n, p0) <= level:
                d += 1
            bounds.append(d)
    return tuple(bounds)


@dataclass(frozen=True)
class Boundary:
    """One side's boundary across the looks, and its exact overall error at p0."""

    side: Side
    looks: tuple[int, ...]
    bounds: tuple[int, ...]  # upper: decide when X_k >= bound; lower: when X_k <= bound
    level: float  # the constant nominal per-look level the bounds were cut at
    error: float  # exact P(ever crossing) when exactly p0 of samples exceed; <= target
    target: float

    def crossed(self, look: int, exceeding: int) -> bool:
        bound = self.bounds[look]
        return exceeding >= bound if self.side == "upper" else exceeding <= bound


def exact_boundary(
    looks: Sequence[int], p0: float, error: float, side: Side, *, iterations: int = 60
) -> Boundary:
    """The Pocock-type exact boundary: the largest constant per-look level whose overall
    crossing probability at p0, over all looks, is at most `error` (found by bisection).

    The crossing probability only grows with the level (the bounds move
    inwards), so bisection converges on the last level that keeps it under
    `error`. Stopping early on the other side only removes paths, so the
    bound stays valid when both sides are used together.
    """
    if not 0 < error < 1:
        raise ValueError(f"error must be in (0, 1), got {error}")
    looks = tuple(looks)

    def total(level: float) -> tuple[tuple[int, ...], float]:
        bounds = per_look_bounds(looks, p0, level, side)
        return bounds, crossing_probability(looks, bounds, p0, side)

    bounds, reached = total(error)
    low = error
    if reached > error:  # more than one look: find the level that pays for them
        low, high = 0.0, error
        bounds, reached = total(low)
        for _ in range(iterations):
            middle = (low + high) / 2
            candidate, probability = total(middle)
            if probability <= error:
                low, bounds, reached = middle, candidate, probability
            else:
                high = middle
    return Boundary(side, looks, bounds, low, reached, error)


@dataclass(frozen=True)
class Design:
    """The per-endpoint sequential test of "at most p0 of requests exceed the threshold"."""

    looks: tuple[int, ...]
    p0: float  # allowed exceedance ratio, 1 - percentile/100
    breach: Boundary  # error: a false alarm on a conforming endpoint, <= alpha / m
    met: Boundary  # error: calling a breaching endpoint met, <= 1 - confidence
    confidence: float
    endpoints: int  # m, the latency probes of the run sharing the false-alarm budget

    @property
    def alpha(self) -> float:
        """This endpoint's share of the run's false-alarm budget."""
        return self.breach.target

    def p_value(self, look: int, exceeding: int) -> float:
        """The stage-wise sequential p-value of stopping at `look` with this count.

        P(an upper crossing at an earlier look) + P(none before, X_look >= exceeding),
        at p0: valid (super-uniform) under the null whatever the look, so
        Holm can compare it with alpha / (m - j). At or over the boundary it
        is at most the breach error, below it larger.
        """
        firsts = crossing_probabilities(
            self.looks[: look + 1],
            (*self.breach.bounds[:look], exceeding),
            self.p0,
            "upper",
        )
        return min(1.0, math.fsum(firsts))


@functools.cache
def sequential_design(
    *,
    percentile_q: float,
    confidence: float,
    endpoints: int,
    min_samples: int,
    batch: int,
    max_samples: int,
) -> Design:
    """The design for one run: breach at (1 - confidence) / endpoints, met at 1 - confidence.

    Cached: every endpoint of a run shares it, and it is a pure function of the profile.
    """
    if endpoints < 1:
        raise ValueError(f"endpoints must be >= 1, got {endpoints}")
    looks = look_sizes(min_samples, batch, max_samples)
    p0 = 1 - percentile_q / 100
    beta = 1 - confidence
    breach = exact_boundary(looks, p0, beta / endpoints, "upper")
    met = exact_boundary(looks, p0, beta, "lower")
    return Design(looks, p0, breach, met, confidence, endpoints)


def family_size(endpoints: int, *, manager: bool) -> int:
    """m: how many latency probes a run has, known alike to every xdist worker.

    The profile's endpoints, and the manager's /health when there is a
    manager URL. A probe later skipped (say, a mutating one in production)
    still counts: that only makes each test a little stricter.
    """
    return endpoints + (1 if manager else 0)


def holm(p_values: Sequence[float], alpha: float, *, m: int | None = None) -> list[bool]:
    """Holm's step-down rejections at family-wise level `alpha`, in the input's order.

    Sorted ascending, p_(j) is rejected while p_(j) <= alpha / (m - j). The
    first step is Bonferroni's alpha / m, which is what each endpoint's own
    test already used: the run fails exactly when Holm rejects anything.
    Later steps may name further endpoints as breaching, at the same
    family-wise confidence: the summary can mark them from the recorded
    sequential p-values (`measured["p_breach"]`). `m`, when given, is the
    family's size; probes that recorded no p-value (skipped) count as 1.
    """
    family = len(p_values) if m is None else m
    if family < len(p_values):
        raise ValueError(f"m ({family}) is smaller than the p-values given ({len(p_values)})")
    padded = [*p_values, *([1.0] * (family - len(p_values)))]
    order = sorted(range(family), key=lambda i: padded[i])
    rejected = [False] * family
    for step, i in enumerate(order):
        if padded[i] > alpha / (family - step):
            break
        rejected[i] = True
    return rejected[: len(p_values)]


# The verdict ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyVerdict:
    decision: Decision
    percentile: float
    threshold_ms: float
    observed_ms: float  # the profile's percentile of the judged samples, nearest-rank
    exceeding: int
    samples: int  # the samples the decision used: the count at the deciding look
    allowed_ratio: float  # p0 = 1 - percentile/100
    look: int  # index of the deciding (or last taken) look
    looks: int
    breach_at: int  # at this look: breach when exceeding >= breach_at
    met_at: int  # at this look: met when exceeding <= met_at (-1: cannot be met here)
    p_breach: float  # stage-wise sequential p-value (Holm's input)
    alpha: float  # this endpoint's breach error: (1 - confidence) / m
    confidence: float

    @property
    def breached(self) -> bool:
        """Only a confident breach; inconclusive is not decided on the point estimate."""
        return self.decision is Decision.BREACH

    def describe(self) -> str:
        label = f"p{self.percentile:g}"
        head = (
            f"{label} {self.observed_ms:.1f} ms vs limit {self.threshold_ms:g} ms; "
            f"{self.exceeding}/{self.samples} over"
        )
        where = f"look {self.look + 1} of {self.looks}"
        if self.decision is Decision.BREACH:
            return (
                f"{head} (breach boundary {self.breach_at}, {where}); breach at "
                f"{self.confidence:.0%} confidence across the run (sequential p "
                f"{self.p_breach:.2g} <= {self.alpha:.2g})"
            )
        if self.decision is Decision.MET:
            return f"{head} (met boundary {self.met_at}, {where}); met at {self.confidence:.0%}"
        needs_met = f"<= {self.met_at}" if self.met_at >= 0 else "more samples"
        return (
            f"{head}; {self.decision.value} ({where}): breach needs >= {self.breach_at}, "
            f"met needs {needs_met}"
        )


def latency_verdict(
    samples: Sequence[float], *, threshold_ms: float, percentile_q: float, design: Design
) -> LatencyVerdict:
    """The sequential verdict on `samples` (in the order they were due).

    Looks are taken in order at the design's sizes that the samples reach;
    the first look that crosses a boundary decides, with the samples up to
    it (later ones, sent while the decision waited for stragglers, are not
    judged). No crossing: CONTINUE while looks remain, INCONCLUSIVE after the last.
    """
    if not samples:
        raise ValueError("no samples")
    if not math.isclose(1 - percentile_q / 100, design.p0):
        raise ValueError("the design was made for another percentile")
    flags = [value > threshold_ms for value in samples]
    decision = Decision.CONTINUE
    look = -1
    for k, n in enumerate(design.looks):
        if n > len(samples):
            break
        look = k
        exceeding = sum(flags[:n])
        if design.breach.crossed(k, exceeding):
            decision = Decision.BREACH
            break
        if design.met.crossed(k, exceeding):
            decision = Decision.MET
            break
    else:
        decision = Decision.INCONCLUSIVE
    if look < 0:  # not even the first look yet: judge what there is, decide nothing
        n = len(samples)
        look_index = 0
    else:
        n = design.looks[look]
        look_index = look
    judged = samples[:n]
    exceeding = sum(flags[:n])
    if decision is Decision.MET or look < 0:
        p_breach = 1.0  # acceptance stops are conservative for the breach side
    else:
        p_breach = design.p_value(look_index, exceeding)
    return LatencyVerdict(
        decision=decision,
        percentile=percentile_q,
        threshold_ms=threshold_ms,
        observed_ms=percentile(judged, percentile_q),
        exceeding=exceeding,
        samples=n,
        allowed_ratio=design.p0,
        look=look_index,
        looks=len(design.looks),
        breach_at=design.breach.bounds[look_index],
        met_at=design.met.bounds[look_index],
        p_breach=p_breach,
        alpha=design.alpha,
        confidence=design.confidence,
    )
