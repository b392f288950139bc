"""Specs: the packaged defaults, OpenSLO equivalence, and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from slo import spec as specs
from slo.errors import SloError
from slo.model import Budgeting, SliKind

SPECS = Path(specs.__file__).parent / "specs"


def test_default_spec_is_the_contract() -> None:
    spec = specs.from_path(None)
    availability, latency = spec.slos
    assert (availability.name, availability.sli, availability.objective_ratio) == (
        "availability",
        SliKind.AVAILABILITY,
        0.999,
    )
    assert (latency.sli, latency.threshold_ms, latency.objective_ratio) == (
        SliKind.LATENCY,
        200,
        0.95,
    )
    assert {s.period_seconds for s in spec.slos} == {28 * 86400}
    assert all(s.per_endpoint and s.sources == ("probe",) for s in spec.slos)


def test_openslo_version_is_the_same_spec() -> None:
    native = specs.from_path(None)
    openslo = specs.from_path(SPECS / "spacetime-openslo.yaml")
    assert openslo.slos == native.slos
    assert openslo.policy == native.policy


def test_openslo_timeslices_and_several_objectives() -> None:
    text = """
apiVersion: openslo/v1
kind: SLO
metadata: {name: fast}
spec:
  indicator:
    metadata: {name: fast}
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: spacetime-probes
            spec: {events: within_threshold, threshold_ms: 300}
        total: {metricSource: {type: spacetime-probes, spec: {events: answered}}}
  timeWindow: [{duration: 7d, isRolling: true}]
  budgetingMethod: Timeslices
  objectives:
    - {displayName: Most minutes, target: 0.99, timeSliceTarget: 0.95, timeSliceWindow: 1m}
    - {displayName: Nearly all, targetPercent: 90, timeSliceTarget: 0.99, timeSliceWindow: 5m}
"""
    spec = specs.from_str(text, "t.yaml")
    assert [s.name for s in spec.slos] == ["fast-most-minutes", "fast-nearly-all"]
    first, second = spec.slos
    assert first.budgeting is Budgeting.TIMESLICES
    assert (first.timeslice_seconds, first.timeslice_target_ratio) == (60, 0.95)
    assert (second.objective_ratio, second.timeslice_seconds) == (0.9, 300)
    assert first.threshold_ms == 300


def test_policy_file_overrides(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "policy:\n  alerts:\n    - {severity: page, budget_fraction: 0.05, long_window: 2h, "
        "short_window: 10m}\ngate:\n  on_no_data: go\n  freeze_severities: [page, ticket]\n"
    )
    policy = specs.policy_from_path(path)
    assert len(policy.alerts) == 1
    assert policy.alerts[0].factor(28 * 86400) == pytest.approx(0.05 * 28 * 24 / 2)
    assert policy.gate.on_no_data == "go"
    assert policy.gate.freeze_severities == ("page", "ticket")


def test_the_history_rule_is_derived_unless_the_gate_sets_it(tmp_path: Path) -> None:
    assert specs.from_path(None).policy.gate.min_history_seconds is None  # derived: 3d
    assert specs.from_path(None).policy.gate.min_runs is None  # derived: 12
    path = tmp_path / "policy.yaml"
    path.write_text("gate:\n  min_history: 7d\n  min_runs: 30\n")
    gate = specs.policy_from_path(path).gate
    assert (gate.min_history_seconds, gate.min_runs) == (7 * 86400, 30)
    path.write_text("gate: {min_history: 0, min_runs: 0}\n")
    gate = specs.policy_from_path(path).gate
    assert (gate.min_history_seconds, gate.min_runs) == (0, 0)


@pytest.mark.parametrize(
    ("extra", "field", "expected"),
    [
        (", objective: 99.9", "slos[0].objective", "ratio in (0, 1)"),
        (", window: 28", "slos[0].window", "duration"),
        (", window: 4x", "slos[0].window", "duration"),
        (", sli: speed", "slos[0].sli", "availability or latency"),
        (", colour: red", "slos[0].colour", "unknown field"),
        (", min_events: -3", "slos[0].min_events", ">= 1"),
        (", sources: [load]", "slos[0].sources", "never counts against a production SLO"),
        (", sources: [bogus]", "slos[0].sources[0]", "one of probe, load"),
        (", threshold_ms: 200", "slos[0].threshold_ms", "only on a latency SLO"),
        (", budgeting: Timeslices", "slos[0].timeslice_window", "required"),
    ],
)
def test_bad_native_spec_names_file_field_and_expectation(
    extra: str, field: str, expected: str
) -> None:
    base = {"name": "a", "sli": "availability", "objective": "99.9%", "window": "28d"}
    base.update(yaml.safe_load("{" + extra.lstrip(", ") + "}"))
    text = yaml.safe_dump({"apiVersion": "spacetime-probes/slo/v1", "slos": [base]})
    with pytest.raises(SloError) as info:
        specs.from_str(text, "bad.yaml")
    message = str(info.value)
    assert message.startswith(f"bad.yaml: {field}: "), message
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("slos: [\n", "line"),
        ("", "(document)"),
        ("- 1\n", "(document)"),
        ("apiVersion: v9\nslos: []\n", "apiVersion"),
        ("slos: []\n", "slos"),
        ("slos:\n - {name: a, sli: latency, objective: 0.9, window: 1d}\n", "slos[0].threshold_ms"),
        ("slos:\n - {name: A!, sli: availability, objective: 0.9, window: 1d}\n", "slos[0].name"),
        (
            "slos:\n - {name: a, sli: availability, objective: 0.9, window: 1d}\n"
            " - {name: a, sli: availability, objective: 0.9, window: 1d}\n",
            "slos[1].name",
        ),
        (
            "slos:\n - {name: a, sli: availability, objective: 0.9, window: 1d}\n"
            "policy:\n  alerts:\n   - {severity: page, budget_fraction: 2, long_window: 1h, "
            "short_window: 5m}\n",
            "policy.alerts[0].budget_fraction",
        ),
        (
            "slos:\n - {name: a, sli: availability, objective: 0.9, window: 1d}\n"
            "policy:\n  alerts:\n   - {severity: page, budget_fraction: 0.1, long_window: 5m, "
            "short_window: 1h}\n",
            "policy.alerts[0].short_window",
        ),
        (
            "slos:\n - {name: a, sli: availability, objective: 0.9, window: 1d}\n"
            "gate: {on_no_data: maybe}\n",
            "gate.on_no_data",
        ),
        (
            "slos:\n - {name: a, sli: availability, objective: 0.9, window: 1d}\n"
            "gate: {min_history: 3}\n",
            "gate.min_history",
        ),
        (
            "slos:\n - {name: a, sli: availability, objective: 0.9, window: 1d}\n"
            "gate: {min_history: false}\n",
            "gate.min_history",
        ),
        (
            "slos:\n - {name: a, sli: availability, objective: 0.9, window: 1d}\n"
            "gate: {min_runs: -1}\n",
            "gate.min_runs",
        ),
        (
            "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: x}\nspec:\n  indicatorRef: nope\n",
            "documents[0].spec.indicatorRef",
        ),
        (
            "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: x}\nspec:\n  indicator:\n"
            "    spec: {thresholdMetric: {}}\n",
            "documents[0].spec.indicator.spec.thresholdMetric",
        ),
    ],
)
def test_bad_specs_fail_in_one_line(text: str, field: str) -> None:
    with pytest.raises(SloError) as info:
        specs.from_str(text, "s.yaml")
    message = str(info.value)
    assert message.startswith(f"s.yaml: {field}"), message
    assert "\n" not in message


def test_openslo_calendar_window_and_bad_source_are_refused() -> None:
    base = (SPECS / "spacetime-openslo.yaml").read_text()
    with pytest.raises(SloError, match=r"timeWindow\[0\]\.isRolling: expected true"):
        specs.from_str(base.replace("isRolling: true", "isRolling: false", 1), "o.yaml")
    with pytest.raises(SloError, match=r"metricSource.type: expected spacetime-probes"):
        specs.from_str(base.replace("type: spacetime-probes", "type: datadog", 1), "o.yaml")
    with pytest.raises(SloError, match=r"ratioMetric: expected good/total events"):
        specs.from_str(base.replace("events: requests", "events: answered", 1), "o.yaml")


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(SloError, match=r"nope.yaml: \(file\): expected an existing"):
        specs.from_path(tmp_path / "nope.yaml")
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SloError, match=r"b.yaml: \(file\): expected UTF-8"):
        specs.from_path(binary)
