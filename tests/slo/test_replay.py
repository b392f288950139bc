"""Replays: ``--now`` anywhere (mid-minute, in the past) judges the ledger as it stood then.

Windows are ``[now - w, now)`` to the second, and the probe summary shows each probe's
newest outcome before ``now`` (issue 15, section 6, items 1 and 2). The CLI is run as a
user runs it, in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from slo import synth

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
MID_MINUTE = NOW - 1800 + 3  # 2025-12-31T23:30:03Z


def slo(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slo", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _run(n: int, ts: float, *, good: int, bad: int, outcome_ts: float | None = None) -> list[dict]:
    run = synth.RunBuilder(synth.run_id(n)).start(ts)
    for i in range(good):
        run.sample(ts + i * 0.01, "GET", "/scenes", 200, 20.0)
    for i in range(bad):
        run.sample(ts + i * 0.01, "GET", "/scenes", 503, 5.0)
    run.outcome(
        ts if outcome_ts is None else outcome_ts,
        "probes/test_contract.py::test_answers[GET /scenes]",
        "failed" if bad else "passed",
        "contract",
        "/scenes",
        "GET",
        reason=f"{bad} x 503 from /scenes" if bad else None,
    )
    return run.end(ts + 0.5).records


def _ingest(tmp_path: Path, records: list[dict]) -> Path:
    results = tmp_path / "results.jsonl"
    results.write_text(synth.dumps(records), encoding="utf-8")
    ledger = tmp_path / "ledger.sqlite"
    done = slo("ingest", results, "--ledger", ledger)
    assert done.returncode == 0, done.stderr
    return ledger


def _report(tmp_path: Path, ledger: Path, now: float) -> dict:
    out = tmp_path / f"out-{now}"
    done = slo("report", "--ledger", ledger, "--now", now, "--out-dir", out,
               "--format", "json", "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads((out / "slo-report.json").read_text())


def _overall(report: dict, name: str) -> dict:
    return next(s for s in report["slos"] if s["slo_name"] == name and s["endpoint"] is None)


def test_window_end_is_now_to_the_second() -> None:
    from slo.store import window_end

    assert window_end(MID_MINUTE) == MID_MINUTE
    assert window_end(MID_MINUTE + 0.75) == MID_MINUTE  # never a second after now


def test_a_mid_minute_now_counts_nothing_after_it(tmp_path: Path) -> None:
    """At 23:30:03 the 5m window is [23:25:03, 23:30:03): 4 good + 1 bad, burn 200x.
    It used to end at 23:31:00 and take in 3 good + 2 bad at 23:30:10 too: 300x."""
    ledger = _ingest(
        tmp_path,
        _run(1, MID_MINUTE - 123, good=4, bad=1)  # 23:28:00
        + _run(2, MID_MINUTE + 7, good=3, bad=2),  # 23:30:10, after now
    )
    latest = _overall(_report(tmp_path, ledger, MID_MINUTE), "availability")
    assert latest["burn_rates"]["5m"] == pytest.approx(200.0)  # was 300.0
    assert latest["events_count"] == 5  # was 10
    # The ISO spelling of the same instant judges the same.
    iso = _overall(_report(tmp_path, ledger, "2025-12-31T23:30:03Z"), "availability")
    assert iso["burn_rates"] == latest["burn_rates"]
    # A fractional now is judged at its whole second: nothing after now can count.
    fraction = _report(tmp_path, ledger, MID_MINUTE + 0.75)
    assert fraction["timestamp"] == MID_MINUTE
    assert _overall(fraction, "availability")["burn_rates"] == latest["burn_rates"]


def test_a_window_starts_at_now_minus_its_length(tmp_path: Path) -> None:
    """The 5m window at 23:30:03 starts at 23:25:03: a run at 23:25:30 is inside it (the
    minute-aligned window [23:26, 23:31) left it out), one at 23:25:01 is not."""
    ledger = _ingest(
        tmp_path,
        _run(1, MID_MINUTE - 302, good=6, bad=6)  # 23:25:01: outside
        + _run(2, MID_MINUTE - 273, good=5, bad=0)  # 23:25:30: inside
        + _run(3, MID_MINUTE - 123, good=4, bad=1),  # 23:28:00: inside
    )
    status = _overall(_report(tmp_path, ledger, MID_MINUTE), "availability")
    assert status["burn_rates"]["5m"] == pytest.approx(100.0)  # 1 bad in 10; was 200.0


def test_a_replay_in_the_past_shows_the_probes_as_they_stood(tmp_path: Path) -> None:
    """Ingest a failing run at 23:30 and a passing one at 23:50; replay at 23:40: the
    probe summary holds the probe, failed, with the 23:30 reason (it used to be empty:
    the newest outcome, 23:50, was taken first and then dropped as after --now)."""
    ledger = _ingest(
        tmp_path,
        _run(1, NOW - 1800, good=8, bad=2) + _run(2, NOW - 600, good=10, bad=0),
    )
    replay = _report(tmp_path, ledger, NOW - 1200)
    assert [(p["last_outcome"], p["last_timestamp"], p["reason"]) for p in replay["probes"]] == [
        ("failed", NOW - 1800, "2 x 503 from /scenes")
    ]
    assert (replay["probes"][0]["passed"], replay["probes"][0]["failed"]) == (0, 1)
    latest = _report(tmp_path, ledger, NOW)
    assert [(p["last_outcome"], p["passed"], p["failed"]) for p in latest["probes"]] == [
        ("passed", 1, 1)
    ]


def test_probe_tallies_stop_at_now_within_the_hour(tmp_path: Path) -> None:
    """Outcomes after ``now`` in the same hour are not tallied (they were: hourly rows)."""
    ledger = _ingest(
        tmp_path,
        _run(1, MID_MINUTE - 60, good=5, bad=0) + _run(2, MID_MINUTE + 60, good=5, bad=1),
    )
    from slo.store import Ledger

    with Ledger.open(ledger, create=False) as opened:
        (row,) = opened.probe_rows("production", MID_MINUTE - 86400, MID_MINUTE)
    assert (row.last_outcome, row.passed, row.failed) == ("passed", 1, 0)
