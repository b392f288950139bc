"""The latency verdict: exact binomial maths, confidence, and a mean that cannot hide a tail."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probes.stats import (
    Decision,
    binomial_cdf,
    binomial_sf,
    latency_verdict,
    percentile,
    samples_for_confident_pass,
    summarize,
)


def verdict(samples: list[float]):
    return latency_verdict(samples, threshold_ms=200, percentile_q=95, confidence=0.95)


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


def test_59_clean_samples_are_needed_to_prove_p95() -> None:
    assert samples_for_confident_pass(95, 0.95) == 59
    assert verdict([10.0] * 58).decision is Decision.INCONCLUSIVE
    assert verdict([10.0] * 59).decision is Decision.PASS


def test_good_mean_does_not_hide_a_bad_tail() -> None:
    # 1 in 7 requests at 800 ms: mean ~120 ms, p95 800 ms.
    samples = [800.0 if i % 7 == 0 else 10.0 for i in range(60)]
    result = verdict(samples)
    assert sum(samples) / len(samples) < 200
    assert result.decision is Decision.FAIL
    assert result.breached
    assert "breach" in result.describe()


def test_all_slow_fails_fast() -> None:
    assert verdict([300.0] * 5).decision is Decision.FAIL


def test_small_sample_near_the_edge_is_inconclusive_not_flapping() -> None:
    # 1 exceedance in 20: neither proven met nor proven breached.
    samples = [250.0] + [10.0] * 19
    result = verdict(samples)
    assert result.decision is Decision.INCONCLUSIVE
    assert "inconclusive" in result.describe()


@given(st.lists(st.sampled_from([10.0, 150.0, 199.0, 201.0, 500.0]), min_size=5, max_size=120))
def test_confident_verdicts_agree_with_the_point_estimate(samples: list[float]) -> None:
    result = verdict(samples)
    share = result.exceeding / result.samples
    if result.decision is Decision.FAIL:
        assert share > 0.05
    if result.decision is Decision.PASS:
        assert share < 0.05
