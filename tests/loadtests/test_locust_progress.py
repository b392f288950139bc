"""What a person sees: stage lines, the ✓/✗ end summary, buckets that follow the stages,
one capacity command, and the web UI's form and exact-figures tab. Real Locust runs
against the reference server, time-scaled to a few seconds."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from loadrun import LENIENT_SLA, LOCUSTFILE, LocustRun, clean_env, python, run_locust
from support import RunningServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.cpu_heavy]

Run = Callable[..., LocustRun]

# the built-in step table's first four stages, 2 min each: 3 s each at --st-time-scale 0.025
STEPS = "steps:\n  stages:\n" + "".join(
    f"    - {{duration_s: 120, users: {users}, spawn_rate: 20}}\n" for users in (1, 2, 3, 4)
)


def test_a_time_scaled_step_run_keeps_every_stage_and_prints_a_line_per_stage(
    conforming: RunningServer, tmp_path: Path
) -> None:
    """Before: 10 s buckets over 3 s stages lost stages 2-4 and labelled a mixed bucket."""
    stages = tmp_path / "stages.yaml"
    stages.write_text(STEPS)
    run = user_run(
        tmp_path / "step",
        "--host", conforming.base_url, "--st-token-file", str(conforming.token_file),
        "--st-shape", "steps", "--st-stages", str(stages), "--st-time-scale", "0.025",
        "--st-think-scale", "0.1", *LENIENT_SLA,
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    # a line as each stage begins, instead of Locust's table every 2 s
    progress = [line for line in run.lines() if re.match(r"loadtests: stage \d of 4:", line)]
    assert [line.split(":")[1] for line in progress] == [
        " stage 1 of 4",
        " stage 2 of 4",
        " stage 3 of 4",
        " stage 4 of 4",
    ]
    assert re.fullmatch(r"loadtests: stage 2 of 4: 2 users, 9(\.\d+)? s left", progress[1])
    assert run.output.count("Aggregated") <= 2  # only the end summary's tables
    # k6-style end summary: a mark, the figure and its limit per threshold
    marks = [line for line in run.lines() if line.startswith("loadtests:   ")]
    assert any(
        re.fullmatch(r"loadtests:   ✓ p95 GET /scenes [\d.]+ ms <= 5000 ms", m) for m in marks
    )
    assert "loadtests:   ✓ error ratio 0.000 <= 0.01" in marks
    # every stage has its own buckets, 3 s wide at most, none crossing into the next stage
    aggregates = run.aggregates()
    assert {a["stage"]["index"] for a in aggregates} == {0, 1, 2, 3}
    assert all(a["bucket_s"] <= 3.0 + 1e-9 for a in aggregates)
    first = {i: min(a["ts"] for a in aggregates if a["stage"]["index"] == i) for i in range(4)}
    for a in aggregates:
        index = a["stage"]["index"]
        if index < 3:
            assert a["ts"] + a["bucket_s"] <= first[index + 1] + 1e-6
    # the one capacity command: both tables, units on the figures, the verdict
    results = tmp_path / "step" / "results.jsonl"
    ours = python("-m", "loadtests.capacity", str(results))
    assert ours.returncode == 0, ours.stderr
    rows = [line for line in ours.stdout.splitlines() if re.match(r"^\| [1-4] \| [1-4] \|", line)]
    assert len(rows) == 8, ours.stdout  # 4 stages x 2 tables
    assert all(" req/s |" in r and " ms |" in r for r in rows[:4])
    assert all(r.endswith("x |") for r in rows[4:])
    assert re.search(r"\ncapacity \(highest stage whose p95 <= 5000 ms, error share <= 1 %, "
                     r"429 share <= 5 %, burn rate <= 1\): 4 users, [\d.]+ req/s \(stage 4\)\n",
                     ours.stdout), ours.stdout  # fmt: skip
    # the SLO module reads the same four stages (its budget table, stages from 1 too)
    slo = python("-m", "slo", "capacity", str(results))
    assert slo.returncode == 0, slo.stderr
    assert len([r for r in slo.stdout.splitlines() if re.match(r"^\| [1-4] \| [1-4] \|", r)]) == 8


def test_a_spike_keeps_its_spike_with_default_buckets_and_the_table_on_request(
    conforming: RunningServer, tmp_path: Path
) -> None:
    """Spike at 0.025: 3 s, 1.5 s, 4.5 s. Before, 10 s buckets swallowed the 1.5 s spike."""
    spike = tmp_path / "spike.yaml"
    spike.write_text(
        "spike:\n  stages:\n"
        "    - {duration_s: 120, users: 2, spawn_rate: 10}\n"
        "    - {duration_s: 60, users: 12, spawn_rate: 100}\n"
        "    - {duration_s: 180, users: 2, spawn_rate: 100}\n"
    )
    run = user_run(
        tmp_path / "spike",
        "--host", conforming.base_url, "--st-token-file", str(conforming.token_file),
        "--st-shape", "spike", "--st-stages", str(spike), "--st-time-scale", "0.025",
        "--st-think-scale", "0.1", "--st-stats-table", *LENIENT_SLA,
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    stages = {a["stage"]["index"]: a["stage"]["users"] for a in run.aggregates()}
    assert stages == {0: 2, 1: 12, 2: 2}
    assert all(a["bucket_s"] <= 1.5 + 1e-9 for a in run.aggregates())  # fits the 1.5 s stage
    assert run.output.count("Aggregated") > 2  # asked for: Locust's table every 2 s


def user_run(workdir: Path, *args: str) -> LocustRun:
    """`locust --headless` without the harness's `--only-summary`, results in `workdir`."""
    return run_locust(workdir, *args, timeout=120, only_summary=False)


def test_web_ui_form_offers_the_run_options_without_secrets_and_a_tab_shows_exact_figures(
    conforming: RunningServer, tmp_path: Path
) -> None:
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE),
            "--web-host", "127.0.0.1", "--web-port", str(port),
            "--host", conforming.base_url, "--st-token-file", str(conforming.token_file),
            "--st-results", str(tmp_path / "results.jsonl"),
        ],
        cwd=tmp_path, env=clean_env(), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        with httpx.Client(base_url=web, timeout=10) as client:
            page = wait_for(client, "/")
            for field in ("st_shape", "st_time_scale", "st_think_scale", "st_sla_ms",
                          "st_max_429_ratio", "st_read_only"):  # fmt: skip
                assert f'"{field}"' in page, field
            for hidden in ("st_token_file", "st_profile", "st_environment",
                           "st_allow_production", "st_results"):  # fmt: skip
                assert f'"{hidden}"' not in page, hidden
            assert conforming.token_file.read_text().strip() not in page
            assert '"extended_tabs"' in page and "SpaceTime exact" in page

            started = client.post("/swarm", data={
                "user_count": "3", "spawn_rate": "3", "host": conforming.base_url,
                "st_think_scale": "0.1", "st_sla_ms": "5000", "st_shape": "",
            })  # fmt: skip
            assert started.json()["success"] is True, started.text
            body: dict = {}
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                time.sleep(1)
                body = client.get("/spacetime").json()
                names = {e["name"] for e in body.get("endpoints", [])}
                # Users pick their tasks at random: wait for the endpoint judged below too.
                if body.get("requests", 0) > 10 and "GET /scenes" in names:
                    break
            assert body["verdict"] == "passed", body
            assert body["sla_ms"] == 5000.0  # the form's value, not the default 200
            endpoint = next(e for e in body["endpoints"] if e["name"] == "GET /scenes")
            assert endpoint["percentile_ms"] is not None and endpoint["requests"] > 0
            assert endpoint["verdict"].startswith("✓ p95 GET /scenes ")
            stats = client.get("/stats/requests").json()
            (tab,) = stats["extended_stats"]
            assert tab["key"] == "spacetime"
            assert tab["data"][0]["verdict"] == "passed"
            assert any(row["name"] == "GET /scenes" for row in tab["data"])
            client.get("/stop")
    finally:
        process.terminate()
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate(timeout=10)
    assert "Traceback" not in stderr, stderr[-3000:]


def wait_for(client: httpx.Client, path: str, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            response = client.get(path)
            if response.status_code == 200:
                return response.text
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"web UI did not answer {path} within {timeout_s} s")
        time.sleep(0.3)


def test_workers_cut_their_buckets_at_the_masters_stage_changes(
    conforming: RunningServer, locust_run: Run, tmp_path: Path
) -> None:
    """`--processes 2`: the workers record, the master changes stage and tells them."""
    stages = tmp_path / "two.yaml"
    stages.write_text(
        "two:\n  stages:\n"
        "    - {duration_s: 3, users: 2, spawn_rate: 10}\n"
        "    - {duration_s: 3, users: 4, spawn_rate: 10}\n"
    )
    port = str(free_port())
    run = locust_run(
        "--processes", "2", "--master-bind-port", port, "--master-port", port,
        "--host", conforming.base_url, "--st-token-file", str(conforming.token_file),
        "--st-shape", "two", "--st-stages", str(stages), "--st-think-scale", "0.05",
        *LENIENT_SLA,
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    aggregates = run.aggregates()
    assert sum(a["total"] for a in aggregates) == run.locust_requests() > 20
    assert {a["stage"]["index"] for a in aggregates} == {0, 1}
    assert all(a["bucket_s"] <= 3.0 + 1e-9 for a in aggregates)
    second = min(a["ts"] for a in aggregates if a["stage"]["index"] == 1)
    assert all(
        a["ts"] + a["bucket_s"] <= second + 1e-6 for a in aggregates if a["stage"]["index"] == 0
    )
    assert len({(a["method"], a["endpoint"], a["ts"]) for a in aggregates}) == len(aggregates)
