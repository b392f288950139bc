"""Factors derived from the period, alert states, SLO states and the gate's decision."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slo.evaluate import assess
from slo.model import OVERALL, AlertWindow, Counts, GatePolicy, SliKind, Slo, SloInput, State
from slo.policy import DEFAULT_ALERTS, DEFAULT_POLICY, decide, needed_windows

DAY = 86400
SLO = Slo("availability", SliKind.AVAILABILITY, 0.999, 28 * DAY, min_events=100)


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
    verdict = decide([ok], gate, "production")
    assert verdict.exit_code == 0 and verdict.reason.startswith(
        "go: production: availability 90.0%"
    )
    exhausted = _status({28 * DAY: (998_000.0, 1_000_000.0)})
    verdict = decide([ok, exhausted], gate, "production")
    assert verdict.exit_code == 1 and "error budget exhausted" in verdict.reason
    page = _status({28 * DAY: (999_900.0, 1_000_000.0), 3600: (980.0, 1000.0), 300: (98.0, 100.0)})
    verdict = decide([page], gate, "production")
    assert verdict.exit_code == 1 and "page burn rate 20.00x over 1h" in verdict.reason
    assert decide([page], GatePolicy(freeze_severities=()), "production").exit_code == 0
    nodata = _status({})
    assert decide([nodata], gate, "production").exit_code == 2
    assert decide([nodata], GatePolicy(on_no_data="go"), "production").exit_code == 0
    assert decide([nodata], GatePolicy(on_no_data="freeze"), "production").exit_code == 1
    assert decide([nodata, exhausted], gate, "production").exit_code == 1  # freeze wins
    assert decide([], gate, "production").exit_code == 2
    strict = GatePolicy(min_remaining_ratio=0.95)
    assert "policy requires 95.0%" in decide([ok], strict, "production").reason
    for verdict in (decide([page, exhausted], gate, "p"), decide([nodata], gate, "p")):
        assert "\n" not in verdict.reason


def test_endpoints_gate_only_when_asked() -> None:
    bad_endpoint = assess(
        SLO,
        SloInput(SLO.name, "GET /x", {28 * DAY: Counts(9_000.0, 10_000.0)}),
        DEFAULT_POLICY,
        0.0,
    )
    ok = _status({28 * DAY: (999_900.0, 1_000_000.0)})
    assert decide([ok, bad_endpoint], GatePolicy(), "p").exit_code == 0
    verdict = decide([ok, bad_endpoint], GatePolicy(endpoints=True), "p")
    assert verdict.exit_code == 1 and "availability GET /x" in verdict.reason
