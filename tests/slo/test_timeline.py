"""The report's charts over time: resolution, SLI points, rolling burn rates, burn-down start."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slo import budget, timeline

STEP = 300
rows = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=200).map(lambda k: 1_000_200 + k * STEP),
        st.integers(min_value=0, max_value=50),
        st.integers(min_value=0, max_value=50),
    ).map(lambda r: (r[0], float(min(r[1], r[2])), float(r[2]))),
    max_size=60,
    unique_by=lambda r: r[0],
)


@pytest.mark.parametrize("span", [600, 7200, 86400, 4 * 86400, 28 * 86400, 400 * 86400])
def test_the_step_is_the_finest_that_fits_the_span(span: int) -> None:
    step = timeline.choose_step(span)
    finer = [s for s in timeline.STEPS if s < step]
    assert span / step <= timeline.MAX_POINTS or step == timeline.STEPS[-1]
    assert all(span / s > timeline.MAX_POINTS for s in finer)


@given(rows, st.sampled_from([STEP, 2 * STEP, 12 * STEP, 36 * STEP]))
def test_rolling_burn_is_the_window_burn_an_alert_sees(rows_, window: int) -> None:
    now = 1_000_200 + 210 * STEP
    points = timeline.rolling_burn(rows_, STEP, window, 0.01, now)
    for t, value in points:
        counts = budget.window_counts(rows_, t, [window])[window]
        assert value == pytest.approx(budget.burn_rate(counts, 0.01))
    with_events = [
        t for t in range(min((r[0] for r in rows_), default=0) + STEP, now + 1, STEP)
        if budget.window_counts(rows_, t, [window])[window].total > 0
    ]  # fmt: skip
    assert [t for t, _ in points] == (with_events if rows_ else [])


def test_a_window_shorter_than_the_step_is_not_drawn() -> None:
    assert timeline.rolling_burn([(0, 1.0, 2.0)], 900, 300, 0.01, 3600) == []


def test_sli_points_leave_gaps_where_there_were_no_events() -> None:
    points = timeline.sli_points([(0, 9.0, 10.0), (300, 0.0, 0.0), (600, 5.0, 5.0)], STEP)
    assert points == [(300, 0.9), (900, 1.0)]


def test_regroup_and_with_data() -> None:
    rows_ = [(0, 0.0, 0.0), (60, 1.0, 2.0), (400, 3.0, 3.0), (610, 1.0, 1.0)]
    assert timeline.with_data(rows_) == rows_[1:]
    assert timeline.regroup(rows_, 300) == [(0, 1.0, 2.0), (300, 3.0, 3.0), (600, 1.0, 1.0)]


@given(rows)
def test_burndown_starts_at_the_first_data_not_the_window_start(rows_) -> None:
    now = 1_000_200 + 210 * STEP
    points = budget.burndown(rows_, now, 400 * STEP, STEP, 0.05)
    data = [r for r in rows_ if r[2] > 0]
    if not data:
        assert points == ()
        return
    first = min(r[0] for r in data)
    assert points[0] == (first, 1.0)
    assert all(t > first for t, _ in points[1:])
    assert timeline.ideal_burndown(first, now) == ((first, 1.0), (now, 0.0))


def test_chart_legends_sit_below_the_plot_area() -> None:
    """A legend inside the plot hid lines (the old burn-down's bottom-left box)."""
    from slo.charts import HEIGHT, LEGEND_ROW, _Canvas

    canvas = _Canvas("t", legend=12)
    top_of_legend = (HEIGHT - 8) * 2
    assert top_of_legend > canvas.y1 + 30  # below the axis and its labels
    assert canvas.height >= HEIGHT + (12 // canvas.columns) * LEGEND_ROW
