"""An SLO's events over time, for the report's charts: SLI, error rate and burn rates.

Pure: rows ``(start, good, total)`` in, points out. The report's figures (windows ending
at ``now``) come from :mod:`slo.budget`; this module only says how they evolved, at a
resolution chosen from how much history there is, so a ledger with two hours of runs
and one with 28 days both give charts of a few hundred points.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from slo import budget

Row = tuple[int, float, float]
Point = tuple[float, float]

# Chart resolutions. Below an hour the ledger reads its per-second table, at an hour
# and above its hourly one (slo.store.Ledger.series).
STEPS = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400)
MAX_POINTS = 720


def choose_step(span_seconds: float, max_points: int = MAX_POINTS) -> int:
    """The finest step that draws ``span_seconds`` in at most ``max_points`` points."""
    for step in STEPS:
        if span_seconds / step <= max_points:
            return step
    return STEPS[-1]


def regroup(rows: Iterable[Row], step: int) -> list[Row]:
    """Sum rows into epoch-aligned steps of ``step`` seconds (finer rows into coarser)."""
    return budget.merge_rows([[(int(s) // step * step, g, t) for s, g, t in rows]])


def with_data(rows: Iterable[Row]) -> list[Row]:
    """The rows from the first one with events on: a chart starts where the data does."""
    out = list(rows)
    for i, (_, _, total) in enumerate(out):
        if total > 0:
            return out[i:]
    return []


def sli_points(rows: Iterable[Row], step: int) -> list[Point]:
    """``(end of step, SLI)`` for every step with events; empty steps are gaps, not 100 %."""
    return [(start + step, good / total) for start, good, total in rows if total > 0]


def rolling_burn(
    rows: Sequence[Row], step: int, window_seconds: int, budget_ratio: float, now: float
) -> list[Point]:
    """The burn rate over ``[t - window, t)`` at the end of each step, as an alert sees it.

    ``t`` runs over step ends up to ``now``; a window holding no events has no point. The
    window is whole steps, so a window shorter than the step cannot be drawn (empty).
    """
    if window_seconds < step or not rows or budget_ratio <= 0:
        return []
    ordered = sorted(rows)
    points: list[Point] = []
    bad = total = 0.0
    lo = hi = 0
    t = ordered[0][0] + step
    while t <= now + 1e-9:
        while hi < len(ordered) and ordered[hi][0] < t:
            bad += ordered[hi][2] - ordered[hi][1]
            total += ordered[hi][2]
            hi += 1
        while lo < hi and ordered[lo][0] < t - window_seconds:
            bad -= ordered[lo][2] - ordered[lo][1]
            total -= ordered[lo][2]
            lo += 1
        if total > 1e-9:
            points.append((t, max(bad, 0.0) / total / budget_ratio))
        t += step
    return points


def ideal_burndown(first: float, now: float) -> tuple[Point, Point]:
    """Budget left if it were spent at exactly burn rate 1: all of it between the first
    data and ``now`` (the budget is a share of the events seen in the window)."""
    return ((first, 1.0), (now, 0.0))
