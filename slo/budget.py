"""Pure error-budget maths: SLI, budget, consumption, burn rates, exhaustion, Wilson bounds.

Conventions (Google SRE Workbook, "Implementing SLOs" and "Alerting on SLOs"):

* ``sli = good / total``; undefined (``None``) when ``total == 0``: no data is never good.
* ``burn rate = (bad / total) / (1 - objective)``: 1 spends the budget exactly over the
  period, 2 spends it in half the period.
* over the whole period, the consumed fraction of the budget equals the period's burn rate.
* time-based budget: ``(1 - objective) * period`` of "bad minutes"; slo-generator reports
  the same quantities as ``error_budget_minutes`` / ``error_budget_remaining_minutes``.

Rows are ``(bucket_start, good, total)`` tuples, not objects: a 28-day report walks
hundreds of thousands of them and tuples keep it inside the time budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from slo.model import Counts

Row = tuple[int, float, float]


def sli_ratio(counts: Counts) -> float | None:
    """Good over total, or ``None`` when nothing was measured."""
    if counts.total <= 0:
        return None
    return min(1.0, max(0.0, counts.good / counts.total))


def error_ratio(counts: Counts) -> float | None:
    """Bad over total (``1 - sli``), computed from the bad count to avoid cancellation."""
    if counts.total <= 0:
        return None
    return min(1.0, max(0.0, counts.bad / counts.total))


def burn_rate(counts: Counts, budget_ratio: float) -> float | None:
    """How fast ``counts`` spend the budget, relative to spending it evenly over the period."""
    err = error_ratio(counts)
    if err is None:
        return None
    return err / budget_ratio


def consumed_ratio(period_counts: Counts, budget_ratio: float) -> float | None:
    """Fraction of the period's budget already spent (may exceed 1 once exhausted)."""
    return burn_rate(period_counts, budget_ratio)


def remaining_ratio(consumed: float | None) -> float | None:
    """Fraction of the budget left: ``1 - consumed``, negative once overspent."""
    return None if consumed is None else 1.0 - consumed


def budget_minutes(period_seconds: int, budget_ratio: float) -> float:
    """The period's budget expressed as time: 0.1% of 28 days is 40.32 minutes."""
    return period_seconds * budget_ratio / 60.0


def time_to_exhaustion(
    remaining: float | None, current_burn_rate: float | None, period_seconds: int
) -> float | None:
    """Seconds until the budget runs out if the current burn rate holds.

    At burn rate ``b`` a fraction ``b / period`` of the budget goes every second, so what
    is left lasts ``remaining * period / b``. ``None`` means "not at this rate" (no burn or
    no data); ``0`` means already exhausted.
    """
    if remaining is None:
        return None
    if remaining <= 0:
        return 0.0
    if current_burn_rate is None or current_burn_rate <= 0:
        return None
    return remaining * period_seconds / current_burn_rate


def wilson_interval(good: float, total: float, z: float = 1.96) -> tuple[float, float] | None:
    """Wilson score interval for the SLI; honest at low traffic where ``good/total`` is not.

    With 20 requests and none failed, the point estimate says 100% but the 95% interval
    starts near 83.9%: a report shows both so nobody reads a quiet day as a perfect one.
    """
    if total <= 0:
        return None
    p = min(1.0, max(0.0, good / total))
    z2 = z * z
    denom = 1.0 + z2 / total
    centre = (p + z2 / (2.0 * total)) / denom
    half = z * math.sqrt(max(0.0, p * (1.0 - p) / total + z2 / (4.0 * total * total))) / denom
    low = max(0.0, centre - half)
    high = min(1.0, centre + half)
    # Guard against rounding putting the point estimate a hair outside its own interval.
    return (min(low, p), max(high, p))


def window_counts(rows: Iterable[Row], now: float, windows: Iterable[int]) -> dict[int, Counts]:
    """Sum rows into each window ``[now - w, now)``; rows at or after ``now`` are ignored."""
    ordered = sorted(set(windows))
    goods = [0.0] * len(ordered)
    totals = [0.0] * len(ordered)
    starts = [now - w for w in ordered]
    for start, good, total in rows:
        if start >= now:
            continue
        # windows are nested: a row inside the shortest window is inside every longer one.
        for i in range(len(ordered) - 1, -1, -1):
            if start < starts[i]:
                break
            goods[i] += good
            totals[i] += total
    return {w: Counts(g, t) for w, g, t in zip(ordered, goods, totals, strict=True)}


def merge_rows(groups: Iterable[Iterable[Row]]) -> list[Row]:
    """Sum several series bucket by bucket (per-endpoint series into the overall one)."""
    merged: dict[int, list[float]] = {}
    for rows in groups:
        for start, good, total in rows:
            acc = merged.get(start)
            if acc is None:
                merged[start] = [good, total]
            else:
                acc[0] += good
                acc[1] += total
    return [(s, g, t) for s, (g, t) in sorted(merged.items())]


def to_timeslices(rows: Iterable[Row], slice_seconds: int, slice_target: float) -> list[Row]:
    """Turn event rows into slice rows for Timeslices budgeting.

    Each slice with data becomes one "event": good when its own ratio meets
    ``slice_target``. Slices without any event are left out (no data is not good, and not
    bad either: it does not spend the budget).
    """
    slices: dict[int, list[float]] = {}
    for start, good, total in rows:
        key = int(start // slice_seconds * slice_seconds)
        acc = slices.setdefault(key, [0.0, 0.0])
        acc[0] += good
        acc[1] += total
    out: list[Row] = []
    for key, (good, total) in sorted(slices.items()):
        if total > 0:
            out.append((key, 1.0 if good / total >= slice_target else 0.0, 1.0))
    return out


def burndown(
    rows: Sequence[Row],
    now: float,
    period_seconds: int,
    step_seconds: int,
    budget_ratio: float,
) -> tuple[tuple[int, float], ...]:
    """Remaining budget through the current window, one point per step, ending at ``now``.

    The budget is what the whole window allows (``budget_ratio`` x its total events); the
    curve is what was left after the bad events seen from the window's start to each point.
    It ends at the report's ``remaining`` figure, and starts at the first data (100 %
    there): days before it had no budget to spend and are not drawn as a flat 100 %.
    """
    start = now - period_seconds
    inside = [(s, g, t) for s, g, t in rows if start <= s < now and t > 0]
    total = sum(t for _, _, t in inside)
    if total <= 0:
        return ()
    allowed = budget_ratio * total
    inside.sort()
    first = inside[0][0]
    points: list[tuple[int, float]] = [(int(first), 1.0)]
    spent = 0.0
    i = 0
    edge = start + (math.floor((first - start) / step_seconds) + 1) * step_seconds
    while edge <= now + 1e-9:
        while i < len(inside) and inside[i][0] < edge:
            spent += inside[i][2] - inside[i][1]
            i += 1
        points.append((int(edge), 1.0 - spent / allowed))
        edge += step_seconds
    if not points or points[-1][0] < int(now):
        while i < len(inside):
            spent += inside[i][2] - inside[i][1]
            i += 1
        points.append((int(now), 1.0 - spent / allowed))
    return tuple(points)
