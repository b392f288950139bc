"""/performance thresholds: the worst severity wins, and fail_at decides."""

from __future__ import annotations

import pytest

from probes import thresholds

DOC = {
    "engine": {"fps": 90.0},
    "memory": {"static_memory_usage": 524288000},
    "cache": {"hit_rate": 0.85},
}


@pytest.mark.parametrize(
    ("metric", "value", "severity"),
    [
        ("engine.fps", 90.0, None),
        ("engine.fps", 89.9, "medium"),
        ("engine.fps", 84.0, "high"),
        ("engine.fps", 42.0, "critical"),
        ("memory.static_memory_usage", 11 * thresholds.GIB, "high"),
        ("memory.static_memory_usage", 12.5 * thresholds.GIB, "critical"),
        ("cache.hit_rate", 0.35, "medium"),
    ],
)
def test_severity(metric: str, value: float, severity: str | None) -> None:
    section, name = metric.split(".")
    doc = {**DOC, section: {name: value}}
    breach = thresholds.worst_breach(doc, metric)
    assert (breach.severity if breach else None) == severity


def test_fail_at() -> None:
    breach = thresholds.Breach("engine.fps", 88, "medium", "fps < 90")
    assert thresholds.fails_at(breach, "medium")
    assert not thresholds.fails_at(breach, "high")


def test_non_numbers_are_rejected() -> None:
    with pytest.raises(TypeError):
        thresholds.lookup({"engine": {"fps": "90"}}, "engine.fps")
