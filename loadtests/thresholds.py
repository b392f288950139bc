"""Pass/fail verdicts of a load run: pure functions over per-endpoint summaries.

The latency verdict is taken from the exact count of answers within the SLA:
the p-th percentile is the value of rank r = max(1, round(p/100 * n)) (the
definition HdrHistogram uses), and it is <= the SLA exactly when at least r
answers took <= the SLA. So the verdict does not depend on histogram
rounding, and the figure quoted in the reason (HdrHistogram's, rounded up by
at most 0.1%) never contradicts it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from slo.runs import hdr_rank

PREFIX = "loadtests: threshold broken: "


@dataclass(frozen=True)
class Policy:
    sla_ms: float = 200.0
    percentile: float = 95.0
    max_error_ratio: float = 0.01
    max_rate_limited_ratio: float = 0.05
    max_dropped_ratio: float = 0.01
    min_answered: int = 1

    def __post_init__(self) -> None:
        if self.sla_ms <= 0 or not 0 < self.percentile < 100:
            raise ValueError("sla_ms must be > 0 and percentile in (0, 100)")
        for name in ("max_error_ratio", "max_rate_limited_ratio", "max_dropped_ratio"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be within [0, 1]")


@dataclass(frozen=True)
class EndpointSummary:
    """One endpoint over the whole run; `percentile_ms` at the policy's percentile."""

    method: str
    endpoint: str
    total: int
    answered: int
    failed: int
    rate_limited: int
    within_sla: int
    percentile_ms: float | None

    @property
    def key(self) -> str:
        return f"{self.method} {self.endpoint}"


@dataclass(frozen=True)
class Breach:
    subject: str
    measure: str
    measured: float
    limit: float
    unit: str = ""

    def describe(self) -> str:
        if self.unit == "ms":
            return f"{self.subject} {self.measure} {self.measured:.1f} ms > {_num(self.limit)} ms"
        if self.unit == "count":
            return f"{self.subject} {self.measure} {self.measured:g} < {_num(self.limit)}"
        return f"{self.subject} {self.measure} {self.measured:.4f} > {_num(self.limit)}"


def _num(value: float) -> str:
    return f"{value:g}"


def percentile_label(percentile: float) -> str:
    return f"p{percentile:g}"


def latency_within_sla(summary: EndpointSummary, policy: Policy) -> bool:
    """True when at least the policy's share of answers came within the SLA."""
    if summary.answered < policy.min_answered or summary.answered == 0:
        return True
    return summary.within_sla >= percentile_rank(summary.answered, policy.percentile)


def percentile_rank(count: int, percentile: float) -> int:
    """1-based rank of the p-th percentile among `count` values, as HdrHistogram ranks it
    (:func:`slo.runs.hdr_rank`; docs/loadtests.md)."""
    return hdr_rank(count, percentile)


def judge(
    summaries: Sequence[EndpointSummary],
    policy: Policy,
    *,
    intended: int = 0,
    dropped: int = 0,
) -> list[Breach]:
    """Every broken threshold, worst latency first; empty when the run passes."""
    total = sum(s.total for s in summaries)
    if total == 0:
        return [Breach("run", "requests", 0, 1, "count")]
    breaches = []
    label = percentile_label(policy.percentile)
    slow = [s for s in summaries if not latency_within_sla(s, policy)]
    slow.sort(key=lambda s: -(s.percentile_ms or math.inf))
    for s in slow:
        measured = s.percentile_ms if s.percentile_ms is not None else math.inf
        breaches.append(Breach(s.key, label, measured, policy.sla_ms, "ms"))
    failed = sum(s.failed for s in summaries)
    if failed / total > policy.max_error_ratio:
        breaches.append(
            Breach("all requests", "error ratio", failed / total, policy.max_error_ratio)
        )
    limited = sum(s.rate_limited for s in summaries)
    if limited / total > policy.max_rate_limited_ratio:
        breaches.append(
            Breach("all requests", "429 ratio", limited / total, policy.max_rate_limited_ratio)
        )
    if intended and dropped / intended > policy.max_dropped_ratio:
        breaches.append(
            Breach("open model", "dropped ratio", dropped / intended, policy.max_dropped_ratio)
        )
    return breaches


@dataclass(frozen=True)
class Check:
    """One threshold's outcome, broken or not, for the k6-style end summary."""

    passed: bool
    measure: str  # "p95", "error ratio"
    subject: str  # "GET /status", "" for the whole run
    measured: float | None
    limit: float
    unit: str = ""  # "ms", or "" for a ratio, "count" for the request count

    def describe(self) -> str:
        mark = "\u2713" if self.passed else "\u2717"
        name = f"{self.measure} {self.subject}".strip()
        if self.measured is None:
            return f"{mark} {name}: no answers"
        op = (
            ("<=" if self.passed else ">")
            if self.unit != "count"
            else (">=" if self.passed else "<")
        )
        if self.unit == "ms":
            return f"{mark} {name} {self.measured:.1f} ms {op} {_num(self.limit)} ms"
        if self.unit == "count":
            return f"{mark} {name} {self.measured:g} {op} {_num(self.limit)}"
        return f"{mark} {name} {self.measured:.3f} {op} {_num(self.limit)}"


def checks(
    summaries: Sequence[EndpointSummary],
    policy: Policy,
    *,
    intended: int = 0,
    dropped: int = 0,
) -> list[Check]:
    """Every threshold with its figure and limit, in the order `judge` reports breaches."""
    total = sum(s.total for s in summaries)
    if total == 0:
        return [Check(False, "requests", "", 0, 1, "count")]
    label = percentile_label(policy.percentile)
    out = [
        Check(latency_within_sla(s, policy), label, s.key, s.percentile_ms, policy.sla_ms, "ms")
        for s in summaries
    ]
    failed = sum(s.failed for s in summaries) / total
    out.append(
        Check(failed <= policy.max_error_ratio, "error ratio", "", failed, policy.max_error_ratio)
    )
    limited = sum(s.rate_limited for s in summaries) / total
    out.append(
        Check(
            limited <= policy.max_rate_limited_ratio,
            "429 ratio",
            "",
            limited,
            policy.max_rate_limited_ratio,
        )
    )
    if intended:
        share = dropped / intended
        out.append(
            Check(
                share <= policy.max_dropped_ratio,
                "dropped ratio",
                "",
                share,
                policy.max_dropped_ratio,
            )
        )
    return out


def reason(breaches: Sequence[Breach]) -> str | None:
    """The one line printed when the run fails, or None when it passes."""
    if not breaches:
        return None
    return PREFIX + "; ".join(b.describe() for b in breaches)
