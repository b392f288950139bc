"""Headless runs of `loadtests/api.py` against the reference server, read from outside."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from loadrun import (
    LENIENT_SLA,
    LocustRun,
    clean_env,
    locust_command,
    python,
    read_run,
    refserver,
)
from support import RunningServer

from loadtests.latency import merge_encoded

pytestmark = [pytest.mark.integration, pytest.mark.cpu_heavy]

Run = Callable[..., LocustRun]


def test_conforming_server_passes_and_results_match_locusts_count(
    conforming: RunningServer, locust_run: Run
) -> None:
    run = locust_run(
        "--host", conforming.base_url, "--st-token-file", str(conforming.token_file),
        "--st-manager-url", conforming.manager_url,
        "-u", "6", "-r", "6", "-t", "5s", "--st-think-scale", "0.1",
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    assert "Traceback" not in run.output
    assert any(line.startswith("loadtests: thresholds passed") for line in run.lines())

    # every client the seeds describe took part, under its route template
    seen = {(a["method"], a["endpoint"]) for a in run.aggregates()}
    assert {("GET", "/performance"), ("GET", "/health"), ("GET", "/scenes")} <= seen

    # one run, written by one process, counting exactly what Locust counted
    run_ids = {r["run_id"] for r in run.records}
    assert len(run_ids) == 1
    phases = [r["phase"] for r in run.records if r["kind"] == "run"]
    assert phases == ["start", "end"]
    end = run.records[-1]
    assert end["exit_status"] == 0
    total = sum(a["total"] for a in run.aggregates())
    assert total == run.locust_requests() == end["counts"]["requests"] > 20
    assert [r["seq"] for r in run.records] == list(range(len(run.records)))
    for aggregate in run.aggregates():
        assert aggregate["source"] == "load" and aggregate["environment"] == "local"
        assert aggregate["stage"] is None  # plain -u/-r: no staged shape
        assert merge_encoded([aggregate["hdr"]]).get_total_count() == aggregate["answered"]
        assert aggregate["within_sla"] <= aggregate["answered"] <= aggregate["total"]
    assert run.summary is not None and run.summary["passed"] is True
    assert "Bearer" not in run.output and conforming.token_file.read_text() not in run.output


def test_429_is_its_own_outcome_and_retry_after_is_honoured(
    tmp_path: Path, locust_run: Run
) -> None:
    with refserver(tmp_path / "server", "--rate", "5", "--burst", "5") as server:
        run = locust_run(
            "--host", server.base_url, "--st-token-file", str(server.token_file),
            "-u", "4", "-r", "4", "-t", "4s", "--st-think-scale", "0.01",
        )  # fmt: skip
    assert run.returncode == 1, run.output[-3000:]
    (line,) = [line for line in run.lines() if "threshold broken" in line]
    assert "429 ratio" in line and "error ratio" not in line
    assert any(re.fullmatch(r"loadtests:   ✗ 429 ratio 0\.\d{3} > 0\.05", x) for x in run.lines())
    assert "loadtests:   ✓ error ratio 0.000 <= 0.01" in run.lines()
    limited = [e for e in run.stats if e["name"].endswith(" [429]")]
    assert limited and all(e["num_failures"] == 0 for e in limited)
    rate_limited = sum(a["rate_limited"] for a in run.aggregates())
    assert rate_limited == sum(e["num_requests"] for e in limited)
    # 4 users pausing 20-100 ms would send hundreds; waiting out Retry-After (>= 1 s) caps it
    assert 0 < rate_limited <= 4 * 6


def test_step_shape_writes_stages_and_both_capacity_reports_read_them(
    conforming: RunningServer, locust_run: Run, tmp_path: Path
) -> None:
    stages = tmp_path / "stages.yaml"
    stages.write_text(
        "tiny:\n  stages:\n"
        "    - {duration_s: 4, users: 2, spawn_rate: 10}\n"
        "    - {duration_s: 4, users: 4, spawn_rate: 10}\n"
    )
    run = locust_run(
        "--host", conforming.base_url, "--st-token-file", str(conforming.token_file),
        "--st-shape", "tiny", "--st-stages", str(stages), "--st-bucket-s", "2",
        "--st-think-scale", "0.05", *LENIENT_SLA,
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    stages_seen = {(a["stage"]["index"], a["stage"]["users"]) for a in run.aggregates()}
    assert stages_seen == {(0, 2), (1, 4)}
    # 2 s buckets on a grid that restarts at the stage change; only the run's last bucket
    # may be cut short, at the run's end (loadtests.latency.LatencyBook.span_of).
    last = max(a["ts"] for a in run.aggregates())
    assert all(a["bucket_s"] == 2 for a in run.aggregates() if a["ts"] != last)
    assert all(0 < a["bucket_s"] <= 2 for a in run.aggregates())
    assert "| stage | users |" in run.stderr and "\ncapacity (highest stage whose" in run.stderr
    results = tmp_path / "run0" / "results.jsonl"
    run_id = run.records[0]["run_id"]

    # throughput and exact percentiles per stage
    ours = python("-m", "loadtests.capacity", str(results))
    assert ours.returncode == 0, ours.stderr
    assert "\ncapacity (highest stage whose p95 <= 5000 ms" in ours.stdout

    # the SLO module's own reading of the same file: SLI and burn rate per stage
    slo = python("-m", "slo", "capacity", str(results))
    assert slo.returncode == 0, slo.stderr
    assert f"## Capacity: load run {run_id}" in slo.stdout
    rows = [line for line in slo.stdout.splitlines() if re.match(r"^\| [01] \| [24] \|", line)]
    assert rows, slo.stdout


def test_a_builtin_table_runs_by_name_time_scaled(
    conforming: RunningServer, locust_run: Run
) -> None:
    """`--st-shape spike` walks stages.yaml's spike table: 10 users, 200, then 10 again."""
    run = locust_run(
        "--host", conforming.base_url, "--st-token-file", str(conforming.token_file),
        "--st-shape", "spike", "--st-time-scale", "0.025", "--st-bucket-s", "0.5",
        "--st-think-scale", "0.1", *LENIENT_SLA,
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    stages = {a["stage"]["index"]: a["stage"]["users"] for a in run.aggregates()}
    assert stages == {0: 10, 1: 200, 2: 10}


def test_production_runs_only_with_the_explicit_flag(locust_run: Run, tmp_path: Path) -> None:
    with refserver(tmp_path / "server", "--rate", "100000", "--burst", "100000") as server:
        profile = tmp_path / "prod.yaml"
        profile.write_text(
            f"name: prod\nenvironment: production\ntarget: {server.base_url}\n"
            f"token_file: {server.token_file}\n"
            "rate_limit: {rate_per_second: 100, burst: 100}\nscenes: [res://vr_main.tscn]\n"
        )
        refused = locust_run("--st-profile", str(profile), "-u", "1", "-t", "2s")
        assert refused.returncode == 2
        assert refused.lines() == [
            f"loadtests: refusing to load {server.base_url}: its profile says production; "
            "pass --st-allow-production to do it anyway"
        ]
        assert refused.records == []
        assert requests_seen(server) == []  # not a single request reached the target

        allowed = locust_run(
            "--st-profile", str(profile), "--st-allow-production", "--st-read-only",
            "OperatorUser", "-u", "2", "-r", "2", "-t", "3s", "--st-think-scale", "0.1",
            *LENIENT_SLA,
        )  # fmt: skip
        assert allowed.returncode == 0, allowed.output[-3000:]
        assert {r["environment"] for r in allowed.records} == {"production"}
        assert not any(a["method"] == "POST" for a in allowed.aggregates())
        methods = {entry["method"] for entry in requests_seen(server)}
        assert "GET" in methods and "POST" not in methods  # the server's own log agrees


def requests_seen(server: RunningServer) -> list[dict]:
    log = server.request_log
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_sigterm_ends_a_headless_run_cleanly(conforming: RunningServer, tmp_path: Path) -> None:
    """A CI timeout's SIGTERM still judges the run and writes the end record."""
    workdir = tmp_path / "sigterm"
    workdir.mkdir()
    process = subprocess.Popen(
        locust_command(
            workdir,
            "--host", conforming.base_url, "--st-token-file", str(conforming.token_file),
            "-u", "2", "-r", "2", "-t", "120s", "--st-think-scale", "0.1", *LENIENT_SLA,
        ),
        cwd=workdir, env=clean_env(), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        results = workdir / "results.jsonl"
        deadline = time.monotonic() + 30
        while not (results.exists() and results.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    run = read_run(workdir, process.returncode, stdout, stderr)
    assert run.returncode == 0, run.output[-3000:]
    assert "loadtests: SIGTERM: ending the run" in run.lines()
    assert [r["phase"] for r in run.records if r["kind"] == "run"] == ["start", "end"]
    assert run.records[-1]["counts"]["requests"] == run.locust_requests() > 0
