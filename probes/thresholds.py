"""The /performance thresholds of seed 000 and contract.md, with their severities; pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SEVERITIES = ("medium", "high", "critical")
GIB = 1024**3


@dataclass(frozen=True)
class Threshold:
    metric: str  # dotted path into the /performance document
    severity: str
    breached: Callable[[float], bool]
    limit: str


@dataclass(frozen=True)
class Breach:
    metric: str
    value: float
    severity: str
    limit: str

    def describe(self) -> str:
        return f"{self.metric} = {self.value:g} breaches {self.severity} ({self.limit})"


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("engine.fps", "critical", lambda v: v < 45, "fps < 45: severe VR degradation"),
    Threshold("engine.fps", "high", lambda v: v < 85, "fps < 85: VR comfort affected"),
    Threshold("engine.fps", "medium", lambda v: v < 90, "fps < 90: target not met"),
    Threshold(
        "memory.static_memory_usage", "critical", lambda v: v > 12 * GIB, "static memory > 12 GiB"
    ),
    Threshold(
        "memory.static_memory_usage", "high", lambda v: v > 10 * GIB, "static memory > 10 GiB"
    ),
    Threshold(
        "cache.hit_rate", "medium", lambda v: v < 0.5, "cache hit rate < 0.5: tune the cache"
    ),
)

METRICS = tuple(dict.fromkeys(t.metric for t in THRESHOLDS))


def lookup(document: Any, metric: str) -> float:
    value = document
    for part in metric.split("."):
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{metric} is not a number")
    return float(value)


def worst_breach(document: Any, metric: str) -> Breach | None:
    """The most severe threshold this metric breaches, or None."""
    value = lookup(document, metric)
    for threshold in THRESHOLDS:  # ordered most severe first per metric
        if threshold.metric == metric and threshold.breached(value):
            return Breach(metric, value, threshold.severity, threshold.limit)
    return None


def fails_at(breach: Breach, fail_at: str) -> bool:
    return SEVERITIES.index(breach.severity) >= SEVERITIES.index(fail_at)
