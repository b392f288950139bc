"""The CLI end to end: ingest -> report/gate on recorded results; one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from slo import synth

NOW = 1_767_225_600.0
HOUR = 3600
OLDER_RUNS = 8  # before the day of 5-minute runs: 6-hourly, reaching back over 3 days


def _history(bad_last_hour: int = 0, environment: str = "production") -> list[dict]:
    """A day of runs every 5 minutes on 10 endpoints, optionally failing in the last hour,
    after two days of a run every 6 hours: the history the gate needs (>= 3d, >= 12 runs)."""
    records = list(
        synth.probe_history(
            start=NOW - 3 * 86400 - HOUR, runs=OLDER_RUNS, every_s=6 * HOUR, samples_per_run=20,
            outcomes_per_run=5, error_ratio=0.0, slow_ratio=0.0, environment=environment, seed=2,
        )
    )  # fmt: skip
    records += synth.probe_history(
        start=NOW - 86400, runs=288, samples_per_run=20, outcomes_per_run=5,
        error_ratio=0.0, slow_ratio=0.0, environment=environment,
    )  # fmt: skip
    for n in range(bad_last_hour):
        records += synth.simple_run(5000 + n, NOW - HOUR + n * 300 + 30, good=10, bad=10,
                                    environment=environment)  # fmt: skip
    return records


def _six_hourly(first: int, *, good: int, environment: str = "production") -> list[dict]:
    """Thirteen runs 6 hours apart up to 10 minutes ago: the gate's 3 days and 12 runs."""
    return [
        record
        for k in range(13)
        for record in synth.simple_run(
            first + k, NOW - 600 - k * 6 * HOUR, good=good, environment=environment
        )
    ]


@pytest.fixture
def healthy_ledger(cli, write_results, ledger_path: Path) -> Path:
    result = cli("ingest", write_results(_history()), "--ledger", ledger_path)
    assert result.code == 0, result.err
    return ledger_path


def test_report_writes_every_format(cli, healthy_ledger: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli("report", "--ledger", healthy_ledger, "--now", "2026-01-01T00:00:00Z",
                 "--out-dir", out)  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.startswith("## SLO report: production: OK")
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([
        "slo-burn-rates.png", "slo-burndown.png", "slo-report.html", "slo-report.json",
        "slo-report.md", *(f"slo-{kind}-{slo}.png" for kind in ("sli", "burn-over-time")
                           for slo in ("availability", "latency")),
        "slo-endpoints-availability.png", "slo-endpoints-latency.png",
    ])  # fmt: skip
    html_images = (out / "slo-report.html").read_text().count("data:image/png;base64,")
    assert html_images == len(list(out.glob("*.png")))  # every chart is in the page too
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
    for png in out.glob("*.png"):
        assert png.read_bytes().startswith(b"\x89PNG")
    html = (out / "slo-report.html").read_text()
    assert "data:image/png;base64," in html and "<script" not in html and "http" not in html
    data = json.loads((out / "slo-report.json").read_text())
    overall = {s["slo_name"]: s for s in data["slos"] if s["endpoint"] is None}
    availability = overall["availability"]
    assert availability["sli_measurement"] == 1.0
    assert availability["events_count"] == (OLDER_RUNS + 288) * 20
    assert availability["error_budget_remaining_minutes"] == pytest.approx(40.32)
    assert availability["error_budget_burn_rate"] == 0.0
    for key in ("sli_measurement", "error_budget_burn_rate", "error_budget_remaining_minutes",
                "error_budget_minutes", "error_minutes", "good_events_count", "bad_events_count",
                "events_count", "gap", "error_budget_target", "error_budget_measurement",
                "alert", "valid", "goal", "window", "burn_rates", "alerts"):  # fmt: skip
        assert key in availability
    assert set(availability["burn_rates"]) == {"5m", "30m", "1h", "2h", "6h", "1d", "3d"}
    assert {a["error_budget_policy_step_name"] for a in availability["alerts"]} == {
        "page-1h-5m", "page-6h-30m", "ticket-1d-2h", "ticket-3d-6h",
    }  # fmt: skip
    assert [s["endpoint"] for s in data["slos"]].count(None) == 2
    assert len(data["slos"]) == 2 + 2 * len(synth.ENDPOINTS)
    assert data["probes"] and data["state"] == "ok"


def test_gate_go_freeze_and_no_data(cli, write_results, healthy_ledger: Path, tmp_path) -> None:
    go = cli("gate", "--ledger", healthy_ledger, "--now", NOW)
    assert go.code == 0
    assert go.out.startswith("slo: go: production: availability 100.0% budget left")
    assert go.out.count("\n") == 1
    burning = write_results(_history(bad_last_hour=12), "burning.jsonl")
    ledger = tmp_path / "burning.sqlite"
    assert cli("ingest", burning, "--ledger", ledger).code == 0
    freeze = cli("gate", "--ledger", ledger, "--now", NOW)
    assert freeze.code == 1
    assert freeze.out.startswith("slo: freeze: production: availability: error budget exhausted")
    report = cli("report", "--ledger", ledger, "--now", NOW, "--out-dir", tmp_path / "o",
                 "--format", "md")  # fmt: skip
    assert "| availability | page | 1h / 5m | 13.44x |" in report.out
    assert "FIRING" in report.out
    lenient = tmp_path / "policy.yaml"
    lenient.write_text("gate:\n  freeze_on_exhausted: false\n  freeze_severities: []\n")
    assert cli("gate", "--ledger", ledger, "--now", NOW, "--policy", lenient).code == 0
    # history enough for the gate (20 runs 4 hours apart), but 20 events in all
    sparse = [r for n in range(20) for r in synth.simple_run(n, NOW - 60 - n * 4 * HOUR, good=1)]
    quiet = write_results(sparse, "quiet.jsonl")
    quiet_ledger = tmp_path / "quiet.sqlite"
    cli("ingest", quiet, "--ledger", quiet_ledger)
    nodata = cli("gate", "--ledger", quiet_ledger, "--now", NOW)
    assert nodata.code == 2
    assert nodata.out.startswith("slo: no data: production: availability: 20 events in 28d")


def test_a_fresh_ledger_plus_one_run_never_says_go(cli, write_results, ledger_path: Path) -> None:
    """What a lost CI cache leaves: the gate job's own run, with events enough for min_events."""
    one = write_results(synth.simple_run(1, NOW - 240, good=200, environment="staging"))
    assert cli("ingest", one, "--ledger", ledger_path).code == 0
    gate = cli("gate", "--ledger", ledger_path, "--now", NOW)
    assert gate.code == 2, gate.out + gate.err
    assert gate.out == (
        "slo: no data: staging: ledger history spans 4m with 1 probe run in the last 3d; the "
        "gate needs >= 3d with >= 12 runs (cache lost? see docs/gitlab.md, After a cache loss)\n"
    )
    report = cli("report", "--ledger", ledger_path, "--now", NOW, "--out-dir",
                 ledger_path.parent / "out", "--format", "md")  # fmt: skip
    assert report.out.startswith("## SLO report: staging: OK")  # the counts alone look fine
    # the rule is the spec's: a policy may ask for less, or turn it off
    policy = ledger_path.parent / "policy.yaml"
    policy.write_text("gate:\n  min_history: 0\n  min_runs: 1\n")  # one run, however recent
    assert cli("gate", "--ledger", ledger_path, "--now", NOW, "--policy", policy).code == 0
    policy.write_text("gate:\n  min_history: 0\n  min_runs: 0\n")  # no history rule
    assert cli("gate", "--ledger", ledger_path, "--now", NOW, "--policy", policy).code == 0
    policy.write_text("gate:\n  min_history: 5m\n")  # 5m / 6h: one run needed, 5m back
    short = cli("gate", "--ledger", ledger_path, "--now", NOW, "--policy", policy)
    assert short.code == 2
    assert "spans 4m with 1 probe run in the last 5m; the gate needs >= 5m with >= 1 run (" in (
        short.out
    )
    # ... and once the schedule's runs have refilled three days, the same gate says go
    refill = write_results(_six_hourly(100, good=20, environment="staging"), "refill.jsonl")
    assert cli("ingest", refill, "--ledger", ledger_path).code == 0
    go = cli("gate", "--ledger", ledger_path, "--now", NOW)
    assert go.code == 0 and go.out.startswith("slo: go: staging: availability 100.0% budget left")


def test_environment_choice(cli, write_results, ledger_path: Path) -> None:
    cli("ingest", write_results(_six_hourly(100, good=200)), "--ledger", ledger_path)
    staging = write_results(synth.simple_run(2, NOW - 60, good=5, environment="staging"), "s.jsonl")
    cli("ingest", staging, "--ledger", ledger_path)
    ambiguous = cli("gate", "--ledger", ledger_path, "--now", NOW)
    assert ambiguous.code == 2
    assert "--environment: expected one of production, staging" in ambiguous.err
    assert (
        cli("gate", "--ledger", ledger_path, "--now", NOW, "--environment", "production").code == 0
    )


def _one_error_line(result, *parts: str) -> None:
    assert result.code == 2, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("slo: error: ")
    assert "Traceback" not in result.err
    for part in parts:
        assert part in lines[0]


def test_bad_inputs_are_one_line_each(cli, tmp_path: Path, healthy_ledger: Path) -> None:
    _one_error_line(cli("ingest", tmp_path / "missing.jsonl", "--ledger", tmp_path / "l.sqlite"),
                    "missing.jsonl: (file): expected an existing results file")  # fmt: skip
    _one_error_line(cli("ingest", tmp_path, "--ledger", tmp_path / "l.sqlite"), "directory")
    bad_spec = tmp_path / "spec.yaml"
    bad_spec.write_text("slos:\n  - {name: a, sli: availability, objective: 2, window: 28d}\n")
    _one_error_line(cli("report", "--ledger", healthy_ledger, "--spec", bad_spec),
                    "spec.yaml: slos[0].objective: expected a ratio")  # fmt: skip
    broken_yaml = tmp_path / "broken.yaml"
    broken_yaml.write_text("slos: [\n  - {")
    _one_error_line(cli("gate", "--ledger", healthy_ledger, "--spec", broken_yaml),
                    "broken.yaml: line")  # fmt: skip
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"\x00" * 4096)
    _one_error_line(cli("report", "--ledger", corrupt), "corrupt.sqlite")
    _one_error_line(cli("gate", "--ledger", tmp_path / "none.sqlite"), "run `slo ingest` first")
    _one_error_line(cli("report", "--now", "yesterday"), "--now", "ISO 8601")
    _one_error_line(cli("report", "--format", "pdf"), "--format")
    _one_error_line(cli("frobnicate"), "invalid choice")
    _one_error_line(cli("report", "--ledger", healthy_ledger, "--source", "prometheus"),
                    "--prometheus-url")  # fmt: skip


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_out_dir_as_user(cli, healthy_ledger: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    _one_error_line(cli("report", "--ledger", healthy_ledger, "--out-dir", locked, "--now", NOW),
                    "expected a writable output file")  # fmt: skip


def test_unwritable_output_and_full_disk(cli, healthy_ledger: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be")
    result = cli("report", "--ledger", healthy_ledger, "--out-dir", blocker / "sub",
                 "--now", NOW, "--format", "md")  # fmt: skip
    _one_error_line(result, "expected a writable output file")
    if Path("/dev/full").exists():
        _one_error_line(cli("rules", "--out", "/dev/full/rules.yaml"), "expected a writable")


def test_full_disk_on_write(monkeypatch, cli, healthy_ledger: Path, tmp_path: Path) -> None:
    import errno

    from slo import files

    real = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    result = cli("report", "--ledger", healthy_ledger, "--out-dir", tmp_path / "o", "--now", NOW,
                 "--format", "json")  # fmt: skip
    monkeypatch.setattr(files.os, "fsync", real)
    _one_error_line(result, "slo-report.json: (write)", "No space left on device")
    assert not list((tmp_path / "o").iterdir())  # the temp file was removed


def test_console_script_and_module_entry_points(healthy_ledger: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "slo", "gate", "--ledger", str(healthy_ledger), "--now", str(NOW)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("slo: go:")


def test_the_real_cli_answers_no_data_on_a_fresh_ledger(write_results, tmp_path: Path) -> None:
    ledger = tmp_path / "fresh.sqlite"
    results = write_results(synth.simple_run(1, NOW - 240, good=200))
    command = [sys.executable, "-m", "slo"]
    ingest = subprocess.run([*command, "ingest", str(results), "--ledger", str(ledger)],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert ingest.returncode == 0, ingest.stderr
    gate = subprocess.run([*command, "gate", "--ledger", str(ledger), "--now", str(NOW)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert gate.returncode == 2, gate.stdout + gate.stderr
    assert gate.stdout.startswith("slo: no data: production: ledger history spans 4m with 1 probe")
    assert gate.stdout.count("\n") == 1 and gate.stderr == ""


def test_openslo_spec_gives_the_same_report(cli, healthy_ledger: Path, tmp_path: Path) -> None:
    from slo import spec as specs

    openslo = Path(specs.__file__).parent / "specs" / "spacetime-openslo.yaml"
    native = cli("report", "--ledger", healthy_ledger, "--now", NOW, "--out-dir", tmp_path / "a",
                 "--format", "json", "--quiet")  # fmt: skip
    other = cli("report", "--ledger", healthy_ledger, "--now", NOW, "--out-dir", tmp_path / "b",
                "--format", "json", "--quiet", "--spec", openslo)  # fmt: skip
    assert native.code == other.code == 0
    a = json.loads((tmp_path / "a" / "slo-report.json").read_text())["slos"]
    b = json.loads((tmp_path / "b" / "slo-report.json").read_text())["slos"]
    assert [s["sli_measurement"] for s in a] == [s["sli_measurement"] for s in b]


def test_timeslices_are_refused_by_the_prometheus_source_and_skipped_by_rules(
    cli, tmp_path: Path
) -> None:
    spec = tmp_path / "t.yaml"
    spec.write_text(
        "slos:\n - {name: minutes, sli: availability, objective: 0.9, window: 1d, "
        "budgeting: Timeslices, timeslice_window: 1m, timeslice_target: 0.95}\n"
        " - {name: events, sli: availability, objective: 0.9, window: 1d}\n"
    )
    rules = cli("rules", "--spec", spec)
    assert rules.code == 0
    assert "minutes: Timeslices budgeting has no rule form here, skipped" in rules.err
    assert "slo-events" in rules.out and "slo-minutes" not in rules.out
    refused = cli("gate", "--spec", spec, "--source", "prometheus", "--prometheus-url",
                  "http://127.0.0.1:9", "--environment", "production")  # fmt: skip
    _one_error_line(refused, "slo minutes: expected Occurrences budgeting")
