"""Capacity from a stepped load run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slo import loadbudget as capacity
from slo import spec as specs
from slo import synth
from slo.model import SliKind, Slo, StepRow

SLO = Slo("availability", SliKind.AVAILABILITY, 0.999, 30 * 86400)
NOW = 1_767_225_600.0


def test_sustainable_load_and_crossings() -> None:
    # burn rates 0.5, 1, 4, 10, 20 at loads 100..500
    rows = [StepRow(i, None, 100.0 * (i + 1), 1000 - b, 1000.0)
            for i, b in enumerate([0.5, 1, 4, 10, 20])]  # fmt: skip
    report = capacity.analyse(SLO, rows, [1.0, 6.0, 14.4])
    assert [s.burn_rate for s in report.steps] == pytest.approx([0.5, 1, 4, 10, 20])
    assert report.max_sustainable_load == 200.0
    by = {c.threshold: c for c in report.crossings}
    assert by[6.0].stage_index == 3 and by[6.0].load == 400.0
    assert by[6.0].interpolated_load == pytest.approx(300 + 100 * (6 - 4) / (10 - 4))
    assert by[14.4].load == 500.0
    assert by[1.0].load == 300.0


def test_never_sustainable_and_never_crossed() -> None:
    hot = capacity.analyse(SLO, [StepRow(0, 10.0, None, 990.0, 1000.0)], [1.0, 100.0])
    assert hot.max_sustainable_load is None
    assert hot.crossings[0].interpolated_load is None  # above already at the first step
    assert hot.crossings[1].load is None


def test_default_thresholds_are_one_and_the_page_factors() -> None:
    spec = specs.from_path(None)
    slo30 = Slo("a", SliKind.AVAILABILITY, 0.999, 30 * 86400)
    assert capacity.default_thresholds(slo30, spec.policy) == pytest.approx((1.0, 6.0, 14.4))


def test_capacity_cli_from_file_and_ledger(cli, write_results, ledger_path: Path, tmp_path) -> None:
    stages = [(10, 50, 0.0, 0.0), (20, 100, 0.0005, 0.01), (40, 200, 0.004, 0.04),
              (80, 400, 0.01, 0.3), (160, 800, 0.05, 0.8)]  # fmt: skip
    path = write_results(synth.load_run(start=NOW - 3600, stages=stages), "load.jsonl")
    result = cli("capacity", path, "--json", tmp_path / "cap.json")
    assert result.code == 0, result.err
    # One report: load, percentiles and shares, SLI and burn, the verdict, then crossings.
    assert result.out.index("### Load and latency per stage") < result.out.index(
        "### SLI and error-budget burn rate per stage"
    ) < result.out.index("\ncapacity (highest stage whose p95 <= 200 ms") < result.out.index(
        "### Load at which each alert's burn rate is crossed"
    )  # fmt: skip
    assert "): 20 users, 500.0 req/s (stage 2)\n" in result.out
    assert "not capacity: stage 3 (40 users" in result.out
    assert "p95 > 200 ms (only 70.00 % within it)" in result.out  # no hdr in synth's records
    assert "Burn rate 13.44x: crossed at stage 5 (load 800 req/s)" in result.out  # from 1
    assert "Highest load with burn rate <= 1" not in result.out
    data = json.loads((tmp_path / "cap.json").read_text())
    assert data["capacity"]["capacity"]["users"] == 20
    assert data["slos"][0]["max_sustainable_load"] == 100.0
    assert data["slos"][1]["slo_name"] == "latency"
    assert cli("ingest", path, "--ledger", ledger_path).code == 0
    from_ledger = cli("capacity", "--ledger", ledger_path, "--thresholds", "1,6,14.4")
    assert from_ledger.code == 0
    assert "Highest load with burn rate <= 1: 100 req/s" in from_ledger.out
    assert "The budget's view only, not a capacity" in from_ledger.out
    assert "Burn rate 6x: crossed at stage 4" in from_ledger.out
    misspelt = cli("capacity", "--ledger", ledger_path, "--environment", "stagng")
    assert misspelt.code == 2 and len(misspelt.err.strip().splitlines()) == 1
    assert "expected one of staging (the environments with load runs), got 'stagng'" in (
        misspelt.err
    )


def test_capacity_without_load_records(cli, write_results) -> None:
    path = write_results(synth.simple_run(1, NOW, good=3))
    result = cli("capacity", path)
    assert result.code == 2
    assert result.err.startswith("slo: error: ") and "expected load aggregate records" in result.err


def test_the_load_unit_is_said() -> None:
    users = capacity.analyse(SLO, [StepRow(0, 10.0, None, 1000.0, 1000.0)], [1.0])
    assert capacity.load_unit(users.steps) == "users"
    assert "Highest load with burn rate <= 1: 10 users" in capacity.render_markdown([users], "t")


def test_both_capacity_commands_pick_the_same_run(cli, write_results, capsys) -> None:
    """A file appended out of order: the run that started last, whichever command reads it."""
    from loadtests.capacity import main as load_capacity

    stages = [(10, 50, 0.0, 0.0), (20, 100, 0.0, 0.0)]
    new = synth.load_run(start=NOW - 3600, stages=stages, number=2)
    old = synth.load_run(start=NOW - 7200, stages=stages, number=1)
    path = write_results([*new, *old], "load.jsonl")
    result = cli("capacity", path)
    assert result.code == 0, result.err
    assert f"## Capacity: load run {synth.run_id(90_000_002)}" in result.out
    assert load_capacity([str(path)]) == 0
    assert f"## Capacity: load run {synth.run_id(90_000_002)}" in capsys.readouterr().out
