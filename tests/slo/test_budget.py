"""The error-budget maths, mostly as properties (hypothesis)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from slo import budget
from slo.model import Counts

objectives = st.floats(min_value=0.5, max_value=0.99999)
counts = st.integers(min_value=1, max_value=10**7).flatmap(
    lambda total: st.tuples(st.integers(min_value=0, max_value=total), st.just(total))
)
PERIOD = 28 * 86400


def test_contract_numbers() -> None:
    # 99.9% over 28 days is 40.32 minutes of budget; 1 bad in 1000 burns it at exactly 1x.
    assert budget.budget_minutes(PERIOD, 0.001) == pytest.approx(40.32)
    assert budget.burn_rate(Counts(999, 1000), 0.001) == pytest.approx(1.0)
    assert budget.burn_rate(Counts(950, 1000), 0.05) == pytest.approx(1.0)


def test_no_data_is_none_not_good() -> None:
    empty = Counts(0, 0)
    assert budget.sli_ratio(empty) is None
    assert budget.burn_rate(empty, 0.001) is None
    assert budget.remaining_ratio(budget.consumed_ratio(empty, 0.001)) is None
    assert budget.wilson_interval(0, 0) is None
    assert budget.time_to_exhaustion(None, 2.0, PERIOD) is None


@given(counts, objectives)
def test_remaining_is_one_minus_consumed(gt: tuple[int, int], objective: float) -> None:
    good, total = gt
    consumed = budget.consumed_ratio(Counts(good, total), 1 - objective)
    assert consumed is not None
    assert budget.remaining_ratio(consumed) == pytest.approx(1 - consumed)


@given(counts, objectives)
def test_consumed_over_the_period_is_the_period_burn_rate(
    gt: tuple[int, int], objective: float
) -> None:
    good, total = gt
    c = Counts(good, total)
    assert budget.consumed_ratio(c, 1 - objective) == budget.burn_rate(c, 1 - objective)
    # and the time-based view agrees: bad minutes = burn x budget minutes
    minutes = budget.budget_minutes(PERIOD, 1 - objective)
    bad_minutes = PERIOD / 60 * (1 - good / total)
    assert budget.burn_rate(c, 1 - objective) * minutes == pytest.approx(
        bad_minutes, rel=1e-9, abs=1e-9
    )


@given(st.lists(counts, min_size=1, max_size=12), objectives)
def test_burn_rate_over_a_window_is_the_traffic_weighted_mean_of_its_parts(
    parts: list[tuple[int, int]], objective: float
) -> None:
    """Burn rate x window consistency: split a window into sub-windows, recombine."""
    budget_ratio = 1 - objective
    whole = Counts(sum(g for g, _ in parts), sum(t for _, t in parts))
    weighted = sum(budget.burn_rate(Counts(g, t), budget_ratio) * t for g, t in parts) / whole.total
    assert budget.burn_rate(whole, budget_ratio) == pytest.approx(weighted, rel=1e-9, abs=1e-12)


@given(counts, objectives, st.integers(min_value=1, max_value=1000))
def test_more_bad_events_burn_faster(gt: tuple[int, int], objective: float, extra: int) -> None:
    good, total = gt
    assume(good >= 1)
    worse_good = max(0, good - extra)
    before = budget.burn_rate(Counts(good, total), 1 - objective)
    after = budget.burn_rate(Counts(worse_good, total), 1 - objective)
    assert after >= before
    assert budget.sli_ratio(Counts(worse_good, total)) <= budget.sli_ratio(Counts(good, total))


@given(counts, st.floats(min_value=0.5, max_value=4.0))
def test_wilson_interval_contains_the_point_estimate(gt: tuple[int, int], z: float) -> None:
    good, total = gt
    low, high = budget.wilson_interval(good, total, z)
    p = good / total
    assert 0.0 <= low <= p <= high <= 1.0


@given(st.floats(min_value=0.0, max_value=1.0), st.integers(min_value=10, max_value=10**5))
def test_wilson_interval_narrows_with_traffic(p: float, n: int) -> None:
    small = budget.wilson_interval(round(p * n), n)
    large = budget.wilson_interval(round(p * n * 10), n * 10)
    assert (large[1] - large[0]) <= (small[1] - small[0]) + 1e-12


def test_wilson_interval_at_low_traffic() -> None:
    # 20 requests, none failed: the point estimate says 100%, the interval says ~84%.
    low, high = budget.wilson_interval(20, 20)
    assert high == 1.0
    assert low == pytest.approx(0.8389, abs=1e-3)


@given(
    st.floats(min_value=1e-6, max_value=1.0),
    st.floats(min_value=1e-3, max_value=1e3),
    st.sampled_from([7 * 86400, PERIOD, 30 * 86400]),
)
def test_time_to_exhaustion_spends_exactly_what_is_left(
    remaining: float, rate: float, period: int
) -> None:
    seconds = budget.time_to_exhaustion(remaining, rate, period)
    # at burn rate b the budget goes at b / period per second
    assert seconds * rate / period == pytest.approx(remaining)


def test_time_to_exhaustion_edges() -> None:
    assert budget.time_to_exhaustion(-0.2, 5.0, PERIOD) == 0.0
    assert budget.time_to_exhaustion(0.5, 0.0, PERIOD) is None
    assert budget.time_to_exhaustion(0.5, None, PERIOD) is None


rows = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=400).map(lambda m: 1_000_000 + m * 60),
        st.integers(min_value=0, max_value=50),
        st.integers(min_value=0, max_value=50),
    ).map(lambda r: (r[0], float(min(r[1], r[2])), float(r[2]))),
    max_size=60,
)
windows = st.lists(st.sampled_from([300, 1800, 3600, 7200, 21600]), min_size=1, unique=True)


@given(rows, windows, st.integers(min_value=0, max_value=400))
def test_window_counts_match_brute_force_and_nest(rows_, windows_, offset: int) -> None:
    now = 1_000_000 + offset * 60
    got = budget.window_counts(rows_, now, windows_)
    for w in windows_:
        inside = [(g, t) for s, g, t in rows_ if now - w <= s < now]
        assert got[w] == Counts(sum(g for g, _ in inside), sum(t for _, t in inside))
    ordered = sorted(windows_)
    for short, long in itertools.pairwise(ordered):
        assert got[short].total <= got[long].total


@given(rows, st.floats(min_value=0.5, max_value=0.999))
def test_burndown_ends_at_remaining_and_never_recovers(rows_, objective: float) -> None:
    now = 1_000_000 + 401 * 60
    period = 401 * 60
    points = budget.burndown(rows_, now, period, 600, 1 - objective)
    period_counts = budget.window_counts(rows_, now, [period])[period]
    if period_counts.total == 0:
        assert points == ()
        return
    remaining = budget.remaining_ratio(budget.consumed_ratio(period_counts, 1 - objective))
    assert points[-1][1] == pytest.approx(remaining)
    values = [v for _, v in points]
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(values))


def test_timeslices_judge_each_slice_on_its_own_ratio() -> None:
    rows_ = [(0, 99.0, 100.0), (60, 90.0, 100.0), (300, 100.0, 100.0), (660, 0.0, 0.0)]
    slices = budget.to_timeslices(rows_, 300, 0.95)
    # slice 0 = 189/200 = 94.5% (bad), slice 300 = 100% (good), slice 600 has no data
    assert slices == [(0, 0.0, 1.0), (300, 1.0, 1.0)]


def test_merge_rows_sums_by_bucket() -> None:
    merged = budget.merge_rows([[(0, 1.0, 2.0), (60, 1.0, 1.0)], [(0, 3.0, 3.0)]])
    assert merged == [(0, 4.0, 5.0), (60, 1.0, 1.0)]
    assert math.isclose(sum(t for _, _, t in merged), 6.0)
