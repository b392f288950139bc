"""Pure verdicts of a load run and the one line a broken run prints."""

from __future__ import annotations

import pytest

from loadtests.thresholds import EndpointSummary, Policy, judge, percentile_rank, reason


def summary(endpoint: str = "/scenes", **counts: float) -> EndpointSummary:
    values: dict[str, float] = {
        "total": 100,
        "answered": 100,
        "failed": 0,
        "rate_limited": 0,
        "within_sla": 100,
    }
    values.update(counts)
    return EndpointSummary(
        "GET",
        endpoint,
        int(values["total"]),
        int(values["answered"]),
        int(values["failed"]),
        int(values["rate_limited"]),
        int(values["within_sla"]),
        counts.get("p", 12.0),
    )


def test_a_conforming_run_passes() -> None:
    assert judge([summary(), summary("/scene")], Policy()) == []
    assert reason([]) is None


def test_latency_is_judged_on_the_exact_count_not_the_histogram_figure() -> None:
    # 95 of 100 within: p95 is the 95th value, within the SLA, whatever HDR rounds to
    assert judge([summary(within_sla=95, p=200.1)], Policy()) == []
    (breach,) = judge([summary("/scene/history", within_sla=94, p=212.4)], Policy())
    assert reason([breach]) == (
        "loadtests: threshold broken: GET /scene/history p95 212.4 ms > 200 ms"
    )


def test_rank_follows_hdrhistogram() -> None:
    assert percentile_rank(17, 95) == 16  # round(16.15)
    assert percentile_rank(100, 95) == 95
    assert percentile_rank(1, 95) == 1
    assert percentile_rank(0, 95) == 1


def test_error_429_and_dropped_ratios() -> None:
    breaches = judge(
        [summary(failed=2, rate_limited=10)],
        Policy(max_error_ratio=0.01, max_rate_limited_ratio=0.05),
        intended=1000,
        dropped=20,
    )
    line = reason(breaches)
    assert line is not None and "\n" not in line
    assert "error ratio 0.0200 > 0.01" in line
    assert "429 ratio 0.1000 > 0.05" in line
    assert "open model dropped ratio 0.0200 > 0.01" in line


def test_worst_latency_first_and_no_requests_is_a_failure() -> None:
    breaches = judge(
        [summary("/a", within_sla=0, p=300.0), summary("/b", within_sla=0, p=900.0)], Policy()
    )
    assert [b.subject for b in breaches] == ["GET /b", "GET /a"]
    assert reason(judge([], Policy())) == "loadtests: threshold broken: run requests 0 < 1"


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        Policy(percentile=100)
    with pytest.raises(ValueError):
        Policy(max_error_ratio=1.5)


def test_checks_mark_each_threshold_with_its_figure_and_limit() -> None:
    from loadtests.thresholds import checks

    policy = Policy(max_rate_limited_ratio=0.01)
    fast = summary("/status", p=12.34)
    slow = summary("/scene/history", within_sla=90, p=212.4)
    limited = summary("/scenes", rate_limited=9, total=300, answered=300, within_sla=300)
    results = checks([fast, slow, limited], policy)
    assert [c.describe() for c in results] == [
        "\u2713 p95 GET /status 12.3 ms <= 200 ms",
        "\u2717 p95 GET /scene/history 212.4 ms > 200 ms",
        "\u2713 p95 GET /scenes 12.0 ms <= 200 ms",
        "\u2713 error ratio 0.000 <= 0.01",
        "\u2717 429 ratio 0.018 > 0.01",
    ]
    # the same verdict as `judge`: a check fails exactly when a breach is reported
    assert sum(not c.passed for c in results) == len(judge([fast, slow, limited], policy))
    assert [c.describe() for c in checks([], policy)] == ["\u2717 requests 0 < 1"]
    dropped = checks([fast], policy, intended=100, dropped=2)[-1]
    assert dropped.describe() == "\u2717 dropped ratio 0.020 > 0.01"
