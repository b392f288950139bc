"""Latency statistics and the SLA verdict, pure.

The verdict is on the tail, never on the mean: a sample either exceeds the
threshold or not, and "p95 < 200 ms" is the claim that fewer than 5 % of
requests exceed it. Each count of exceedances is judged with exact one-sided
binomial tests, so a small sample gives "inconclusive" (keep sampling)
rather than a verdict that flips from run to run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Decision(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Summary:
    samples: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float


@dataclass(frozen=True)
class LatencyVerdict:
    decision: Decision
    percentile: float
    threshold_ms: float
    observed_ms: float  # the profile's percentile, nearest-rank
    exceeding: int
    samples: int
    allowed_ratio: float  # 1 - percentile/100
    # One-sided binomial p-values under "exactly allowed_ratio of requests exceed":
    # small p_breach: this many exceedances are unlikely if the SLA holds.
    p_breach: float
    p_meets: float
    confidence: float

    @property
    def breached(self) -> bool:
        """Pass/fail: confident verdicts as they are, inconclusive ones by the point estimate."""
        if self.decision is Decision.INCONCLUSIVE:
            return self.observed_ms > self.threshold_ms
        return self.decision is Decision.FAIL

    def describe(self) -> str:
        label = f"p{self.percentile:g}"
        head = (
            f"{label} {self.observed_ms:.1f} ms vs limit {self.threshold_ms:g} ms; "
            f"{self.exceeding}/{self.samples} over"
        )
        if self.decision is Decision.FAIL:
            return f"{head}; breach at {1 - self.p_breach:.1%} confidence"
        if self.decision is Decision.PASS:
            return f"{head}; met at {1 - self.p_meets:.1%} confidence"
        verdict = "breach" if self.breached else "met"
        return (
            f"{head}; {verdict} on the point estimate only (inconclusive at {self.confidence:.0%})"
        )


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


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exact."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return min(1.0, sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1)))


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), exact."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return min(1.0, sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(0, k + 1)))


def latency_verdict(
    samples: Sequence[float], *, threshold_ms: float, percentile_q: float, confidence: float
) -> LatencyVerdict:
    if not samples:
        raise ValueError("no samples")
    n = len(samples)
    exceeding = sum(1 for value in samples if value > threshold_ms)
    allowed = 1 - percentile_q / 100
    p_breach = binomial_sf(exceeding, n, allowed)
    p_meets = binomial_cdf(exceeding, n, allowed)
    alpha = 1 - confidence
    if p_breach < alpha and exceeding / n > allowed:
        decision = Decision.FAIL
    elif p_meets < alpha and exceeding / n < allowed:
        decision = Decision.PASS
    else:
        decision = Decision.INCONCLUSIVE
    return LatencyVerdict(
        decision=decision,
        percentile=percentile_q,
        threshold_ms=threshold_ms,
        observed_ms=percentile(samples, percentile_q),
        exceeding=exceeding,
        samples=n,
        allowed_ratio=allowed,
        p_breach=p_breach,
        p_meets=p_meets,
        confidence=confidence,
    )


def samples_for_confident_pass(percentile_q: float, confidence: float) -> int:
    """Fewest samples that can prove the SLA with zero exceedances (59 for p95 at 95 %)."""
    allowed = 1 - percentile_q / 100
    return math.ceil(math.log(1 - confidence) / math.log(1 - allowed))
