"""`python -m slo.notify` end to end: a local webhook receiver, the state in the ledger
across runs, delivery failures, and a real probe run against a faulty reference server."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alert_runs import GIB, probe_run
from support import ROOT, run_probes

from slo.notified import TABLE

NOW = 1_800_000_100.0


def notify(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("ALERT_", "SLO_", "CI_"))
    }
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "slo", "notify", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=environment,
    )  # fmt: skip


def test_fires_suppresses_and_resolves_across_runs(receiver, write_run, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    url = f"{receiver.url}/services/T000/B000/secretpart"
    low = write_run(probe_run(fps=42.0, memory_bytes=11 * GIB))
    first = notify("--results", low, "--ledger", ledger, "--webhook", url, "--format", "slack",
                   "--now", NOW)  # fmt: skip
    assert first.returncode == 0, first.stderr
    texts = [b["text"] for b in receiver.bodies()]
    assert texts == [
        "[FIRING] HIGH_MEMORY (high) on staging: static memory 11.00 GiB &gt; 10 GiB",
        "[FIRING] LOW_FPS (critical) on staging: engine.fps 42 &lt; 45",
    ]
    assert "secretpart" not in first.stdout + first.stderr
    assert "sent: slack webhook http://127.0.0.1/…" in first.stdout

    # four minutes later, still low: at most one per type per 5 minutes
    again = notify("--results", low, "--ledger", ledger, "--webhook", url, "--now", NOW + 240)
    assert again.returncode == 0
    assert len(receiver.received) == 2
    assert "LOW_FPS firing (critical): engine.fps 42 < 45 [suppressed" in again.stdout

    # the memory clears and the fps stays low, six minutes after the first alert
    mixed = write_run(probe_run(fps=42.0))
    third = notify("--results", mixed, "--ledger", ledger, "--webhook", url, "--format",
                   "generic", "--now", NOW + 360)  # fmt: skip
    assert third.returncode == 0
    new = receiver.bodies()[2:]
    assert [(b["alert_type"], b["status"]) for b in new] == [
        ("HIGH_MEMORY", "resolved"), ("LOW_FPS", "firing"),
    ]  # fmt: skip
    with sqlite3.connect(ledger) as conn:
        rows = dict(conn.execute(f"SELECT alert_type, notified FROM {TABLE}").fetchall())
    assert rows["LOW_FPS"] == "firing" and rows["HIGH_MEMORY"] == "resolved"


def test_undelivered_notice_is_retried_by_the_next_run(receiver, write_run, tmp_path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    receiver.statuses["/down"] = 500
    results = write_run(probe_run(performance=[(None, None)] * 10))
    failed = notify("--results", results, "--ledger", ledger, "--webhook",
                    f"{receiver.url}/down", "--now", NOW)  # fmt: skip
    assert failed.returncode == 3
    assert "API_DOWN firing" in failed.stderr and "NOT delivered" in failed.stderr
    assert "HTTP 500" in failed.stderr and "/down" not in failed.stderr + failed.stdout
    assert len(receiver.bodies("/down")) == 2  # one retry
    ok = notify("--results", results, "--ledger", ledger, "--webhook", f"{receiver.url}/up",
                "--now", NOW + 30)  # fmt: skip
    assert ok.returncode == 0
    assert [b["alert_type"] for b in receiver.bodies("/up")] == ["API_DOWN"]


def test_without_a_webhook_it_only_prints(write_run, tmp_path: Path) -> None:
    ledger = tmp_path / "none.sqlite"
    result = notify("--results", write_run(probe_run(fps=80.0)), "--ledger", ledger)
    assert result.returncode == 0
    assert "LOW_FPS firing (high): engine.fps 80 < 85 [not sent: no webhook configured]" in (
        result.stdout
    )
    assert not ledger.exists()


def test_webhook_and_format_from_the_environment(receiver, write_run, tmp_path: Path) -> None:
    result = notify(
        "--results", write_run(probe_run(unprovoked_429=2)), "--ledger", tmp_path / "l.sqlite",
        env={"ALERT_WEBHOOK_URL": f"{receiver.url}/d", "ALERT_WEBHOOK_FORMAT": "discord",
             "CI_PIPELINE_URL": "https://gitlab.example/p/-/pipelines/7"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [body] = receiver.bodies("/d")
    assert body["content"].startswith("**[FIRING] RATE_LIMIT_VIOLATIONS (medium) on staging**")
    fields = {f["name"]: f["value"] for f in body["embeds"][0]["fields"]}
    assert fields["pipeline"] == "https://gitlab.example/p/-/pipelines/7"


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    missing = notify("--results", tmp_path / "nope.jsonl", "--ledger", tmp_path / "l.sqlite")
    assert missing.returncode == 2
    assert (
        missing.stderr
        == f"slo: error: {tmp_path / 'nope.jsonl'}: (file): expected an existing results file\n"
    )
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE x(y)")
    results = tmp_path / "r.jsonl"
    results.write_text("".join(__import__("json").dumps(r) + "\n" for r in probe_run()))
    refused = notify("--results", results, "--ledger", foreign, "--webhook", "http://127.0.0.1:9")
    assert refused.returncode == 2 and "expected a spacetime-probes SLO ledger" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.integration
def test_a_real_probe_run_against_a_memory_fault(receiver, tmp_path: Path) -> None:
    run = run_probes(
        tmp_path / "out", "--st-embedded-fault=perf-memory-exhaustion", "-k", "test_performance"
    )
    assert run.returncode == 1
    result = notify("--results", run.results, "--ledger", tmp_path / "l.sqlite", "--webhook",
                    f"{receiver.url}/generic", "--format", "generic")  # fmt: skip
    assert result.returncode == 0, result.stderr
    [body] = receiver.bodies()
    assert body["alert_type"] == "HIGH_MEMORY" and body["severity"] == "critical"
    assert body["summary"] == "static memory 12.50 GiB > 12 GiB"
    assert body["environment"] == "local" and body["target"].startswith("http://127.0.0.1:")
    assert "firing: HIGH_MEMORY;" in result.stdout
