"""Inputs that used to be read wrongly, through the real CLI (issue 15, section 6, items 3-5).

Bad input is one line on stderr, ``slo: error: <file>: <field>: <expected>``, exit 2; a
bad line in a results file is skipped and counted with its line number.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from slo import synth

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_767_225_600.0


def slo(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slo", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _one_error_line(done: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("slo: error: "), done.stderr
    assert "Traceback" not in done.stderr and "(internal)" not in done.stderr
    for part in parts:
        assert part in done.stderr, done.stderr


def _lines(records: list[dict]) -> list[str]:
    return [json.dumps(r) for r in records]


@pytest.mark.parametrize(
    ("field", "literal", "reason"),
    [
        ("ts", "NaN", "ts: expected a JSON number, got NaN"),
        ("ts", "Infinity", "ts: expected a JSON number, got Infinity"),
        ("ts", "-Infinity", "ts: expected a JSON number, got -Infinity"),
        ("ts", "1e300", "ts: expected epoch seconds from 0 to 253402300799, got 1e+300"),
        ("ts", "1e400", "ts: expected epoch seconds from 0 to 253402300799, got inf"),
        ("latency_ms", "NaN", "latency_ms: expected a JSON number, got NaN"),
        ("latency_ms", "Infinity", "latency_ms: expected a JSON number, got Infinity"),
        ("latency_ms", "1e400", "latency_ms: expected a finite number >= 0 or null, got inf"),
        ("latency_ms", "-1.5", "latency_ms: expected a finite number >= 0 or null, got -1.5"),
    ],
)
def test_a_non_finite_number_is_one_bad_line(
    tmp_path: Path, field: str, literal: str, reason: str
) -> None:
    """One such line used to stop the file: 'slo: error: (internal): ValueError: cannot
    convert float NaN to integer' (ts), or count as a slow request (latency_ms NaN)."""
    run = synth.RunBuilder(synth.run_id(1)).start(NOW - 60)
    for i in range(4):
        run.sample(NOW - 59 + i, "GET", "/scenes", 200, 20.0)
    lines = _lines(run.end(NOW - 50).records)
    bad = json.loads(lines[2])
    lines[2] = json.dumps(bad).replace(
        f'"{field}": {json.dumps(bad[field])}', f'"{field}": {literal}'
    )
    assert literal in lines[2]
    results = tmp_path / "results.jsonl"
    results.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ledger = tmp_path / "ledger.sqlite"
    done = slo("ingest", results, "--ledger", ledger)
    assert done.returncode == 0, done.stderr
    assert f"5 records from 1 run(s), 5 new, 0 already counted, 1 bad line(s) skipped " \
           f"(first: line 3: {reason})" in done.stdout  # fmt: skip
    out = tmp_path / "out"
    report = slo("report", "--ledger", ledger, "--now", NOW, "--out-dir", out,
                 "--format", "json", "--quiet")  # fmt: skip
    assert report.returncode == 0, report.stderr
    slos = json.loads((out / "slo-report.json").read_text())["slos"]
    latency = next(s for s in slos if s["slo_name"] == "latency" and s["endpoint"] is None)
    assert (latency["good_events_count"], latency["events_count"]) == (3, 3)  # no bad event


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the file is empty"),
        ("\n\n  \n", "the file holds only blank lines"),
        ('{"schema": "spacetime-probes/results/1", "ki', "found only a truncated last line"),
    ],
)
def test_a_results_file_without_records_is_an_error(
    tmp_path: Path, content: str, expected: str
) -> None:
    """It used to exit 0 with 'results.jsonl: 0 records from 0 run(s), 0 new, ...'."""
    results = tmp_path / "results.jsonl"
    results.write_text(content, encoding="utf-8")
    done = slo("ingest", results, "--ledger", tmp_path / "ledger.sqlite")
    _one_error_line(
        done,
        f"slo: error: {results}: (file): expected JSON Lines records of "
        f"spacetime-probes/results/1, {expected}",
    )
    assert done.stdout == ""


@pytest.mark.parametrize("command", ["report", "gate"])
def test_a_misspelt_environment_names_the_ledgers_environments(
    tmp_path: Path, command: str
) -> None:
    """It used to read as no data: 'slo: no data: prodution: availability: 0 events in 28d'."""
    results = tmp_path / "results.jsonl"
    results.write_text(
        synth.dumps(
            synth.simple_run(1, NOW - 240, good=200)
            + synth.simple_run(2, NOW - 120, good=200, environment="staging")
        ),
        encoding="utf-8",
    )
    ledger = tmp_path / "ledger.sqlite"
    assert slo("ingest", results, "--ledger", ledger).returncode == 0
    extra = ["--out-dir", tmp_path / "out", "--quiet"] if command == "report" else []
    done = slo(command, "--ledger", ledger, "--now", NOW, "--environment", "prodution", *extra)
    _one_error_line(
        done,
        f"slo: error: {ledger}: --environment: expected one of production, staging (the "
        "environments the ledger holds data for), got 'prodution'",
    )
    assert done.stdout == ""
    real = slo(command, "--ledger", ledger, "--now", NOW, "--environment", "staging", *extra)
    assert real.stderr.startswith("slo: error") is False, real.stderr  # a real one is judged
    assert real.returncode == (0 if command == "report" else 2)  # the gate: too short a history
