"""The JSON report's budget fields: what each holds, next to slo-generator's (issue 15, 6.6).

slo-generator's ``SLOReport`` (``slo_generator/report.py``) has no ``error_budget_consumed``
field of any spelling; its budget fields are ratios (``error_budget_target``,
``error_budget_measurement``, ``gap``), a burn rate and minutes. Ours hold the same
quantities under the same names, and ``error_budget_consumed_ratio`` is our own: a ratio
(1.0 = the whole budget), never a percentage.
"""

from __future__ import annotations

import pytest

from slo import render
from slo import spec as specs
from slo.evaluate import build_report
from slo.model import OVERALL, Counts, SloInput

NOW = 1_767_225_600.0
PERIOD = 28 * 86400


def _availability(good: float, total: float) -> dict:
    spec = specs.from_path(None)
    slo = next(s for s in spec.slos if s.name == "availability")
    report = build_report(
        slos=[slo],
        inputs=[SloInput(slo.name, OVERALL, {PERIOD: Counts(good, total)})],
        policy=spec.policy,
        now=NOW,
        environment="production",
        source="test",
        spec_origin=spec.origin,
    )
    return render.to_json_dict(report)["slos"][0]


def test_half_the_budget_spent_is_a_consumed_ratio_of_one_half() -> None:
    """99.9% over 28 days, 50 bad in 100 000: half the 40.32-minute budget is spent."""
    s = _availability(99_950, 100_000)
    assert s["error_budget_consumed_ratio"] == pytest.approx(0.5)  # not 50 (a percentage)
    assert s["error_budget_remaining_ratio"] == pytest.approx(0.5)
    # slo-generator's own definitions (report.py, SLOReport.build), field for field:
    sli, goal = s["sli_measurement"], s["goal"]
    assert s["gap"] == pytest.approx(sli - goal)
    assert s["error_budget_target"] == pytest.approx(1 - goal)
    assert s["error_budget_measurement"] == pytest.approx(1 - sli)
    assert s["error_budget_burn_rate"] == pytest.approx((1 - sli) / (1 - goal))  # = 0.5
    assert s["error_budget_minutes"] == pytest.approx(s["window"] * (1 - goal) / 60)  # 40.32
    assert s["error_budget_remaining_minutes"] == pytest.approx(s["window"] * (sli - goal) / 60)
    assert s["error_minutes"] == pytest.approx(s["window"] * (1 - sli) / 60)  # 20.16
    # ... and ours is the whole-window burn rate, the share of the budget spent.
    assert s["error_budget_consumed_ratio"] == pytest.approx(s["error_budget_burn_rate"])
    assert s["error_budget_consumed_ratio"] == pytest.approx(
        s["error_minutes"] / s["error_budget_minutes"]
    )


def test_an_overspent_budget_is_a_consumed_ratio_above_one() -> None:
    s = _availability(99_700, 100_000)  # 0.3% bad against a 0.1% budget
    assert s["error_budget_consumed_ratio"] == pytest.approx(3.0)
    assert s["error_budget_remaining_ratio"] == pytest.approx(-2.0)
    assert s["error_budget_remaining_minutes"] == pytest.approx(-80.64)
