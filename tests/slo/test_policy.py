"""Factors derived from the period, alert states, SLO states and the gate's decision."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slo.evaluate import assess
from slo.model import (
    OVERALL,
    AlertWindow,
    Counts,
    GatePolicy,
    History,
    HistoryNeed,
    Policy,
    RunHistory,
    SliKind,
    Slo,
    SloInput,
    State,
)
from slo.policy import (
    DEFAULT_ALERTS,
    DEFAULT_BURN_WINDOWS,
    DEFAULT_POLICY,
    decide,
    history_need,
    history_shortfall,
    needed_windows,
)

DAY = 86400
HOUR = 3600
SLO = Slo("availability", SliKind.AVAILABILITY, 0.999, 28 * DAY, min_events=100)
T = 1_767_225_600.0  # the history's "now"; statuses are judged at 0, which the gate ignores
NEED = HistoryNeed(3 * DAY, 12)  # the default policy's, for a 28-day SLO


def _runs(
    starts: list[float], environment: str = "production", source: str = "probe"
) -> RunHistory:
    """What ``Ledger.run_history`` returns for runs that started at ``starts``."""
    since, seen = T - NEED.span_seconds, [t for t in starts if t <= T]
    return RunHistory(
        environment, source, since, T, len(seen), sum(since <= t for t in seen),
        min(seen, default=None), max(seen, default=None),
    )  # fmt: skip


def _history(*runs: RunHistory, environment: str = "production") -> History:
    return History(environment, NEED, runs, T)


def _scheduled(environment: str = "production") -> History:
    """Thirteen runs six hours apart, the oldest a minute more than 3 days back."""
    starts = [T - 3 * DAY - 60 + k * 6 * HOUR for k in range(13)]
    return _history(_runs(starts, environment), environment=environment)


ENOUGH = _scheduled()


def test_factors_are_derived_from_the_period() -> None:
    assert [a.factor(30 * DAY) for a in DEFAULT_ALERTS] == pytest.approx([14.4, 6, 3, 1])
    assert [a.factor(28 * DAY) for a in DEFAULT_ALERTS] == pytest.approx([13.44, 5.6, 2.8, 28 / 30])


@given(
    st.floats(min_value=0.001, max_value=1.0),
    st.sampled_from([3600, 6 * 3600, DAY, 3 * DAY]),
    st.sampled_from([7 * DAY, 28 * DAY, 30 * DAY, 90 * DAY]),
)
def test_a_firing_long_window_spends_its_budget_fraction(fraction, long_window, period) -> None:
    """Burning at exactly the factor for the long window spends exactly the fraction."""
    alert = AlertWindow("page", fraction, long_window, 300)
    spent = alert.factor(period) * long_window / period
    assert spent == pytest.approx(fraction)


def _input(windows: dict[int, tuple[float, float]]) -> SloInput:
    full = {
        w: Counts(*windows.get(w, (0.0, 0.0)))
        for w in needed_windows(DEFAULT_POLICY, SLO.period_seconds)
    }
    return SloInput(SLO.name, OVERALL, full)


def _status(windows: dict[int, tuple[float, float]]):
    return assess(SLO, _input(windows), DEFAULT_POLICY, now=0.0)


def test_page_needs_both_windows() -> None:
    period = (999_000.0, 1_000_000.0)
    # 1h burns at 20x, 5m at 20x: page
    firing = _status({28 * DAY: period, 3600: (980.0, 1000.0), 300: (98.0, 100.0)})
    assert firing.state is State.PAGE
    assert firing.alerts[0].firing and firing.alerts[0].threshold == pytest.approx(13.44)
    # 1h still high but the last 5 minutes recovered: no page (the short window resets it)
    recovered = _status({28 * DAY: period, 3600: (980.0, 1000.0), 300: (100.0, 100.0)})
    assert recovered.state is State.OK
    assert not recovered.alerts[0].firing


def test_low_traffic_alert_windows_do_not_fire() -> None:
    status = _status({28 * DAY: (999_000.0, 1_000_000.0), 3600: (5.0, 10.0), 300: (0.0, 1.0)})
    assert not status.alerts[0].enough_data and not status.alerts[0].firing


def test_no_data_is_never_good() -> None:
    few = _status({28 * DAY: (50.0, 50.0)})
    assert few.state is State.NO_DATA
    assert few.sli_ratio == 1.0 and few.sli_interval[0] < 0.95  # shown, with its doubt
    none = _status({})
    assert none.state is State.NO_DATA and none.sli_ratio is None


def test_exhausted_and_time_to_exhaustion() -> None:
    exhausted = _status({28 * DAY: (998_000.0, 1_000_000.0)})
    assert exhausted.state is State.EXHAUSTED
    assert exhausted.remaining_ratio == pytest.approx(-1.0)
    assert exhausted.time_to_exhaustion_seconds == 0.0
    # half the budget left, burning at 2x over the last hour: 7 days to go
    half = _status({28 * DAY: (999_500.0, 1_000_000.0), 3600: (998.0, 1000.0)})
    assert half.remaining_ratio == pytest.approx(0.5)
    assert half.time_to_exhaustion_seconds == pytest.approx(7 * DAY)
    assert half.remaining_minutes == pytest.approx(20.16)


def test_gate_decisions() -> None:
    gate = GatePolicy()
    ok = _status({28 * DAY: (999_900.0, 1_000_000.0)})
    verdict = decide([ok], gate, "production", history=ENOUGH)
    assert verdict.exit_code == 0 and verdict.reason.startswith(
        "go: production: availability 90.0%"
    )
    exhausted = _status({28 * DAY: (998_000.0, 1_000_000.0)})
    verdict = decide([ok, exhausted], gate, "production", history=ENOUGH)
    assert verdict.exit_code == 1 and "error budget exhausted" in verdict.reason
    page = _status({28 * DAY: (999_900.0, 1_000_000.0), 3600: (980.0, 1000.0), 300: (98.0, 100.0)})
    verdict = decide([page], gate, "production", history=ENOUGH)
    assert verdict.exit_code == 1 and "page burn rate 20.00x over 1h" in verdict.reason
    assert (
        decide([page], GatePolicy(freeze_severities=()), "production", history=ENOUGH).exit_code
        == 0
    )
    nodata = _status({})
    assert decide([nodata], gate, "production", history=ENOUGH).exit_code == 2
    assert (
        decide([nodata], GatePolicy(on_no_data="go"), "production", history=ENOUGH).exit_code == 0
    )
    assert (
        decide([nodata], GatePolicy(on_no_data="freeze"), "production", history=ENOUGH).exit_code
        == 1
    )
    assert (
        decide([nodata, exhausted], gate, "production", history=ENOUGH).exit_code == 1
    )  # freeze wins
    assert decide([], gate, "production", history=ENOUGH).exit_code == 2
    strict = GatePolicy(min_remaining_ratio=0.95)
    assert "policy requires 95.0%" in decide([ok], strict, "production", history=ENOUGH).reason
    for verdict in (
        decide([page, exhausted], gate, "p", history=ENOUGH),
        decide([nodata], gate, "p", history=ENOUGH),
    ):
        assert "\n" not in verdict.reason


def test_endpoints_gate_only_when_asked() -> None:
    bad_endpoint = assess(
        SLO,
        SloInput(SLO.name, "GET /x", {28 * DAY: Counts(9_000.0, 10_000.0)}),
        DEFAULT_POLICY,
        0.0,
    )
    ok = _status({28 * DAY: (999_900.0, 1_000_000.0)})
    assert decide([ok, bad_endpoint], GatePolicy(), "p", history=ENOUGH).exit_code == 0
    verdict = decide([ok, bad_endpoint], GatePolicy(endpoints=True), "p", history=ENOUGH)
    assert verdict.exit_code == 1 and "availability GET /x" in verdict.reason


# ----------------------------------------------------------------------------- history rule


def test_history_need_is_derived_from_the_alert_lines() -> None:
    assert history_need(DEFAULT_POLICY, 28 * DAY) == NEED  # 3d ticket line, 3d / 6h runs
    assert history_need(DEFAULT_POLICY, 30 * DAY) == NEED
    # a 1-day SLO cannot need more than its day; the step stays the line's 6h
    assert history_need(DEFAULT_POLICY, DAY) == HistoryNeed(DAY, 4)
    page_only = Policy(alerts=DEFAULT_ALERTS[:2], burn_windows_seconds=DEFAULT_BURN_WINDOWS)
    assert history_need(page_only, 28 * DAY) == HistoryNeed(6 * HOUR, 12)  # 6h / 30m
    week = replace(DEFAULT_POLICY, gate=GatePolicy(min_history_seconds=7 * DAY))
    assert history_need(week, 28 * DAY) == HistoryNeed(7 * DAY, 28)
    fewer = replace(DEFAULT_POLICY, gate=GatePolicy(min_runs=3))
    assert history_need(fewer, 28 * DAY) == HistoryNeed(3 * DAY, 3)
    off = replace(DEFAULT_POLICY, gate=GatePolicy(min_history_seconds=0, min_runs=0))
    assert history_need(off, 28 * DAY) == HistoryNeed(0, 0)


def test_a_fresh_ledger_plus_one_run_is_no_data_however_many_events() -> None:
    ok = _status({28 * DAY: (999_900.0, 1_000_000.0)})  # a million events: min_events passes
    fresh = _history(_runs([T - 247], "staging"), environment="staging")
    verdict = decide([ok], GatePolicy(), "staging", history=fresh)
    assert verdict.exit_code == 2 and verdict.decision == "no-data"
    assert verdict.reason == (
        "no data: staging: ledger history spans 4m7s with 1 probe run in the last 3d; the gate "
        "needs >= 3d with >= 12 runs (cache lost? see docs/gitlab.md, After a cache loss)"
    )
    assert decide([ok], GatePolicy(), "staging", history=_scheduled("staging")).exit_code == 0
    empty = _history(environment="staging")  # no run at all
    assert (
        "spans 0s with 0 probe runs" in decide([ok], GatePolicy(), "staging", history=empty).reason
    )


def test_history_must_reach_back_over_the_span_and_fill_it() -> None:
    assert history_shortfall(ENOUGH) is None
    # two days of runs every 5 minutes: plenty of runs, not far enough back
    two_days = _history(_runs([T - k * 300 for k in range(576)]))
    assert "spans 1d23h with 576 probe runs" in (history_shortfall(two_days) or "")
    # an old copy of the ledger plus the gate's own run: far enough back, but 1 run in 3d
    stale = _history(_runs([T - 20 * DAY + k * 300 for k in range(2000)] + [T - 60]))
    assert "spans 20d with 1 probe run in the last 3d" in (history_shortfall(stale) or "")
    # only this environment's probe runs count: load runs and staging's runs do not
    starts = [T - 3 * DAY - 60 + k * 6 * HOUR for k in range(13)]
    elsewhere = _history(_runs(starts, source="load"), _runs(starts, "staging"), _runs([T - 60]))
    assert "with 1 probe run" in (history_shortfall(elsewhere) or "")
    # one run fewer than needed in the span is short; exactly the need is enough
    eleven = _history(_runs([T - 3 * DAY - 60] + [T - k * HOUR for k in range(11)]))
    assert "with 11 probe runs" in (history_shortfall(eleven) or "")
    exact = [T - 3 * DAY] + [T - k * HOUR for k in range(11)]  # 12 runs, reaching back 3d
    assert history_shortfall(_history(_runs(exact))) is None
    assert history_shortfall(_history(_runs([exact[0] + 1, *exact[1:]])))  # 1 s short of 3d
    assert history_shortfall(replace(eleven, need=HistoryNeed(0, 0))) is None
    assert history_shortfall(replace(eleven, need=HistoryNeed(0, 12))) == (
        "ledger history holds 11 probe runs; the gate needs >= 12 runs"
    )


@given(
    st.lists(st.floats(min_value=0, max_value=10 * DAY), max_size=40),
    st.floats(min_value=0, max_value=10 * DAY),
)
def test_more_history_never_turns_enough_into_short(ages: list[float], extra: float) -> None:
    before = history_shortfall(_history(_runs([T - a for a in ages])))
    after = history_shortfall(_history(_runs([T - a for a in [*ages, extra]])))
    if before is None:
        assert after is None


def test_a_freeze_on_evidence_beats_short_history() -> None:
    """Fail-closed either way; the freeze says what the counts show."""
    fresh = _history(_runs([T - 60]))
    exhausted = _status({28 * DAY: (998_000.0, 1_000_000.0)})
    verdict = decide([exhausted], GatePolicy(), "production", history=fresh)
    assert verdict.exit_code == 1 and "error budget exhausted" in verdict.reason
    page = _status({28 * DAY: (999_900.0, 1_000_000.0), 3600: (980.0, 1000.0), 300: (98.0, 100.0)})
    verdict = decide([page], GatePolicy(), "production", history=fresh)
    assert verdict.exit_code == 1 and "page burn rate" in verdict.reason


def test_short_history_is_no_data_as_on_no_data_says() -> None:
    fresh = _history(_runs([T - 60]))
    ok = _status({28 * DAY: (999_900.0, 1_000_000.0)})
    nodata = _status({})
    first = decide([ok, nodata], GatePolicy(), "production", history=fresh)
    assert first.exit_code == 2  # the history is named first: it is what a lost cache shows
    assert first.reason.startswith("no data: production: ledger history spans 1m with 1 probe")
    assert first.reason.endswith("(+1 more)")
    freeze = decide([ok], GatePolicy(on_no_data="freeze"), "production", history=fresh)
    assert freeze.exit_code == 1
    assert freeze.reason.startswith("freeze: production: ledger history spans 1m")
    assert freeze.reason.endswith("(freeze on no data)")
    go = decide([ok], GatePolicy(on_no_data="go"), "production", history=fresh)
    assert go.exit_code == 0  # the team chose to go on no data; the line still says why
    assert go.reason.endswith("12 runs, on_no_data: go)")
    assert go.reason.startswith("go: production: availability 90.0% budget left (ledger history")
    # a source that keeps its own history (Prometheus) passes None: counts alone decide
    assert decide([ok], GatePolicy(), "production", history=None).exit_code == 0
    for verdict in (first, freeze, go):
        assert "\n" not in verdict.reason
