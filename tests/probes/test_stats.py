"""The latency verdict: exact binomial maths, a sequential design whose false-alarm rate is
proven by exact computation, and outcomes that never fall back to the point estimate."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.profile import Sla
from probes.stats import (
    Decision,
    Side,
    binomial_cdf,
    binomial_pmf,
    binomial_sf,
    crossing_probability,
    exact_boundary,
    family_size,
    holm,
    latency_verdict,
    look_sizes,
    per_look_bounds,
    percentile,
    samples_for_confident_pass,
    sequential_design,
    summarize,
)

DEFAULT = {"percentile_q": 95.0, "confidence": 0.95, "min_samples": 20, "batch": 20,
           "max_samples": 120}  # fmt: skip


def design(endpoints: int = 11, **overrides: float):
    return sequential_design(**{**DEFAULT, "endpoints": endpoints, **overrides})


def verdict(samples: list[float], endpoints: int = 11):
    return latency_verdict(samples, threshold_ms=200, percentile_q=95, design=design(endpoints))


def brute_force_crossing(looks, bounds, p, side) -> float:
    """P(ever crossing), by enumerating every sequence of exceedances: no shared code path."""
    total = 0.0
    for flags in itertools.product((0, 1), repeat=looks[-1]):
        for n, bound in zip(looks, bounds, strict=True):
            x = sum(flags[:n])
            if (x >= bound) if side == "upper" else (x <= bound):
                k = sum(flags)
                total += p**k * (1 - p) ** (len(flags) - k)
                break
    return total


# Percentiles and the binomial --------------------------------------------------------------


def test_nearest_rank_percentile_is_an_observed_value() -> None:
    data = [float(i) for i in range(1, 101)]
    assert percentile(data, 95) == 95.0
    assert percentile(data, 50) == 50.0
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 95)


@given(st.lists(st.floats(0, 1e4, allow_nan=False), min_size=1, max_size=200))
def test_percentiles_are_ordered_and_observed(samples: list[float]) -> None:
    s = summarize(samples)
    assert s.p50_ms <= s.p95_ms <= s.p99_ms <= s.max_ms
    assert {s.p50_ms, s.p95_ms, s.p99_ms} <= set(samples)


@given(st.integers(0, 60), st.integers(1, 60), st.floats(0.01, 0.99))
def test_binomial_tails_sum_to_one(k: int, n: int, p: float) -> None:
    k = min(k, n)
    assert math.isclose(binomial_cdf(k - 1, n, p) + binomial_sf(k, n, p), 1.0, rel_tol=1e-9)


def test_binomial_pmf_matches_the_closed_form_and_survives_large_n() -> None:
    assert math.isclose(binomial_pmf(3, 10, 0.2), math.comb(10, 3) * 0.2**3 * 0.8**7)
    assert binomial_pmf(0, 5, 0.0) == 1.0 and binomial_pmf(5, 5, 1.0) == 1.0
    assert math.isclose(math.fsum(binomial_pmf(k, 5000, 0.05) for k in range(5001)), 1.0)


def test_59_clean_samples_prove_p95_in_one_fixed_test() -> None:
    assert samples_for_confident_pass(95, 0.95) == 59
    single = sequential_design(**{**DEFAULT, "min_samples": 59, "max_samples": 59}, endpoints=1)
    assert single.met.bounds == (0,)
    one_short = sequential_design(**{**DEFAULT, "min_samples": 58, "max_samples": 58}, endpoints=1)
    assert one_short.met.bounds == (-1,)


# The group-sequential design ------------------------------------------------------------------


def test_looks_run_from_min_to_max_in_batches() -> None:
    assert look_sizes(20, 20, 120) == (20, 40, 60, 80, 100, 120)
    assert look_sizes(20, 30, 100) == (20, 50, 80, 100)
    assert look_sizes(30, 10, 30) == (30,)
    with pytest.raises(ValueError):
        look_sizes(50, 10, 40)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 4), min_size=1, max_size=3),
    st.floats(0.05, 0.6),
    st.sampled_from(["upper", "lower"]),
    st.data(),
)
def test_crossing_probability_equals_enumerating_every_sequence(steps, p, side, data) -> None:
    looks = list(itertools.accumulate(steps))
    bounds = [data.draw(st.integers(-1, n + 1)) for n in looks]
    exact = crossing_probability(looks, bounds, p, side)
    assert math.isclose(exact, brute_force_crossing(looks, bounds, p, side), abs_tol=1e-12)


def test_boundary_error_is_under_alpha_by_enumeration() -> None:
    """A small design, checked over all 2^12 sequences of exceedances."""
    looks = (4, 8, 12)
    cases: tuple[tuple[Side, float], ...] = (("upper", 0.05), ("lower", 0.1))
    for side, error in cases:
        boundary = exact_boundary(looks, 0.25, error, side)
        enumerated = brute_force_crossing(looks, boundary.bounds, 0.25, side)
        assert math.isclose(enumerated, boundary.error, abs_tol=1e-12)
        assert enumerated <= error


@pytest.mark.parametrize("side", ["upper", "lower"])
@pytest.mark.parametrize("error", [0.05, 0.05 / 11, 0.001])
def test_boundary_is_the_largest_constant_level_under_the_error(side, error) -> None:
    looks = look_sizes(20, 20, 120)
    boundary = exact_boundary(looks, 0.05, error, side)
    assert boundary.error <= error
    # The next level at which any bound moves inwards breaks the error: nothing left on the table.
    if side == "upper":
        steps = [binomial_sf(c - 1, n, 0.05) for n, c in zip(looks, boundary.bounds, strict=True)]
    else:
        steps = [binomial_cdf(d + 1, n, 0.05) for n, d in zip(looks, boundary.bounds, strict=True)]
    looser = per_look_bounds(looks, 0.05, min(steps) * (1 + 1e-9), side)
    assert looser != boundary.bounds
    assert crossing_probability(looks, looser, 0.05, side) > error


@pytest.mark.parametrize(
    ("side", "error"), [("upper", 0.05), ("upper", 0.05 / 11), ("lower", 0.05)]
)
def test_a_fresh_test_at_each_look_would_exceed_the_error(side, error) -> None:
    """Why the design exists: the same level at every look, uncorrected, is not that level."""
    looks = look_sizes(20, 20, 120)
    naive = per_look_bounds(looks, 0.05, error, side)
    assert crossing_probability(looks, naive, 0.05, side) > error
    assert exact_boundary(looks, 0.05, error, side).level < error


@settings(max_examples=30, deadline=None)
@given(st.floats(0.0, 0.3), st.floats(0.0, 0.3))
def test_crossing_is_monotone_in_the_true_exceedance_ratio(p, q) -> None:
    """So the error at p0 bounds it for every conforming target (a tail just under p0 too)."""
    low, high = sorted((p, q))
    d = design()
    assert (
        crossing_probability(d.looks, d.breach.bounds, low, "upper")
        <= crossing_probability(d.looks, d.breach.bounds, high, "upper") + 1e-12
    )
    assert crossing_probability(d.looks, d.met.bounds, low, "lower") + 1e-12 >= (
        crossing_probability(d.looks, d.met.bounds, high, "lower")
    )


def test_looks_every_20_samples_known_case() -> None:
    d = design(11)
    assert d.looks == (20, 40, 60, 80, 100, 120)
    assert d.breach.bounds == (6, 8, 10, 11, 13, 15)
    assert d.met.bounds == (-1, -1, -1, 0, 1, 1)  # 80 clean samples prove it, or 1 in 100
    assert d.breach.error <= 0.05 / 11 and d.met.error <= 0.05


def test_the_profiles_design_looks_every_10_samples_at_the_same_errors() -> None:
    sla = Sla()
    d = design(11, min_samples=sla.min_samples, batch=sla.batch, max_samples=sla.max_samples)
    assert d.looks == (20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120)
    assert d.breach.bounds == (6, 7, 8, 9, 10, 11, 11, 12, 13, 14, 15)
    assert d.met.bounds == (-1, -1, -1, -1, -1, 0, 0, 0, 1, 1, 1)  # met at 70 clean samples
    assert d.breach.error <= 0.05 / 11 and d.met.error <= 0.05


@pytest.mark.parametrize("endpoints", [1, 4, 11, 30])
def test_whole_run_false_alarm_is_at_most_one_minus_confidence(endpoints: int) -> None:
    d = design(endpoints)
    p_any = 1 - (1 - crossing_probability(d.looks, d.breach.bounds, 0.05, "upper")) ** endpoints
    assert p_any <= 0.05


def test_more_endpoints_make_each_test_stricter() -> None:
    bounds = [design(m).breach.bounds for m in (1, 4, 11, 30)]
    for looser, stricter in itertools.pairwise(bounds):
        assert all(a <= b for a, b in zip(looser, stricter, strict=True))
    assert bounds[0] != bounds[-1]


def test_family_size_counts_the_manager_when_there_is_one() -> None:
    assert family_size(10, manager=True) == 11
    assert family_size(5, manager=False) == 5


# The sequential verdict -----------------------------------------------------------------------


def test_all_slow_breaches_at_the_first_look() -> None:
    result = verdict([300.0] * 20)
    assert result.decision is Decision.BREACH and result.breached
    assert result.samples == 20 and result.look == 0
    assert result.p_breach <= result.alpha
    assert "breach" in result.describe()


def test_a_clean_endpoint_is_met_at_the_first_look_that_can_prove_it() -> None:
    assert verdict([10.0] * 79).decision is Decision.CONTINUE
    result = verdict([10.0] * 80)
    assert result.decision is Decision.MET and not result.breached
    assert result.samples == 80


def test_first_crossing_decides_and_later_samples_are_not_judged() -> None:
    # Breach boundary 6 at look 1 (20 samples); whatever follows is sent but not judged.
    samples = [300.0] * 6 + [10.0] * 14 + [10.0] * 30
    result = verdict(samples)
    assert result.decision is Decision.BREACH and result.samples == 20
    assert result.exceeding == 6


def test_undecided_after_every_look_is_inconclusive_not_the_point_estimate() -> None:
    # 5 over in 120: p95 over the limit on the point estimate, yet no confident verdict.
    samples = [300.0 if i % 24 == 0 else 10.0 for i in range(120)]
    result = verdict(samples)
    assert result.decision is Decision.INCONCLUSIVE
    assert result.observed_ms <= 300 and not result.breached
    assert "inconclusive" in result.describe()


def test_good_mean_does_not_hide_a_bad_tail() -> None:
    # 1 in 7 requests at 800 ms, as the latency-tail fault: mean ~120 ms, p95 800 ms.
    samples = [800.0 if i % 7 == 0 else 10.0 for i in range(120)]
    result = verdict(samples)
    assert sum(samples) / len(samples) < 200
    assert result.decision is Decision.BREACH


def test_the_design_must_fit_the_percentile() -> None:
    with pytest.raises(ValueError):
        latency_verdict([1.0], threshold_ms=200, percentile_q=99, design=design())


@settings(deadline=None)
@given(st.lists(st.sampled_from([10.0, 150.0, 199.0, 201.0, 500.0]), min_size=1, max_size=120))
def test_confident_verdicts_agree_with_the_point_estimate(samples: list[float]) -> None:
    result = verdict(samples)
    share = result.exceeding / result.samples
    if result.decision is Decision.BREACH:
        assert share > 0.05 and result.p_breach <= result.alpha
    if result.decision is Decision.MET:
        assert share < 0.05


def test_p_value_is_at_most_alpha_on_the_boundary_and_more_below_it() -> None:
    d = design()
    for look, bound in enumerate(d.breach.bounds):
        assert d.p_value(look, bound) <= d.alpha
        assert d.p_value(look, bound - 1) > d.p_value(look, bound)


# Holm ---------------------------------------------------------------------------------------


def test_holm_steps_down() -> None:
    assert holm([0.01, 0.04, 0.03, 0.2], 0.05) == [True, False, False, False]  # 0.03 > 0.05/3
    assert holm([0.01, 0.02, 0.016, 0.2], 0.05) == [True, True, True, False]
    assert holm([0.02, 0.02], 0.05) == [True, True]
    assert holm([0.03, 0.026], 0.05) == [False, False]  # 0.026 > 0.05/2
    # Two probes of a family of four recorded p-values: the others count as 1.
    assert holm([0.02, 0.012], 0.05, m=4) == [False, True]  # 0.012 <= 0.05/4, 0.02 > 0.05/3
    with pytest.raises(ValueError):
        holm([0.1, 0.2], 0.05, m=1)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=20))
def test_holm_rejects_anything_exactly_when_bonferroni_does(p_values: list[float]) -> None:
    """So failing each endpoint's test at alpha / m is the same run-level decision as Holm."""
    assert any(holm(p_values, 0.05)) == (min(p_values) <= 0.05 / len(p_values))
