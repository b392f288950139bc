"""The thresholds catch a slow server; the open model sees a stall the closed figure hides."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from loadrun import LocustRun, refserver

pytestmark = pytest.mark.integration

BROKEN = re.compile(r"^loadtests: threshold broken: (GET|PUT|POST) /\S+ p95 (\d+\.\d) ms > 200 ms")


def test_slow_server_breaks_the_p95_threshold(
    tmp_path: Path, locust_run: Callable[..., LocustRun]
) -> None:
    with refserver(
        tmp_path / "server", "--rate", "100000", "--burst", "100000", "--fault", "latency-slow-all"
    ) as server:
        run = locust_run(
            "--host", server.base_url, "--st-token-file", str(server.token_file),
            "-u", "4", "-r", "4", "-t", "4s", "--st-think-scale", "0.05",
        )  # fmt: skip
    assert run.returncode == 1, run.output[-3000:]
    (line,) = [line for line in run.lines() if "threshold broken" in line]
    match = BROKEN.match(line)
    assert match, line
    assert float(match.group(2)) >= 300.0  # the fault adds 300 ms; exact, not a 10 ms bucket
    assert run.records[-1]["exit_status"] == 1
    assert all(a["within_sla"] == 0 for a in run.aggregates() if a["endpoint"] != "/status")


def test_open_model_corrected_p99_shows_a_stall_the_uncorrected_hides(
    tmp_path: Path, locust_run: Callable[..., LocustRun]
) -> None:
    with refserver(
        tmp_path / "server", "--rate", "100000", "--burst", "100000", "--fault", "latency-stall",
        env={"REFSERVER_STALL_PERIOD_S": "3", "REFSERVER_STALL_S": "1"},
    ) as server:  # fmt: skip
        run = locust_run(
            "--host", server.base_url, "--st-token-file", str(server.token_file),
            "-t", "7s", "--st-open-rate", "100", "--st-open-connections", "2",
        )  # fmt: skip
    assert run.summary is not None, run.output[-3000:]
    figures = run.summary["open_model"]
    # a third of the requests were due while the server stood still: up to 1 s late
    assert figures["p99_corrected_ms"] >= 500.0, figures
    # while only the 2 in flight at each stall waited: under 1% of what was sent
    assert figures["p99_uncorrected_ms"] < 200.0, figures
    assert figures["late"] > 0 and figures["sent"] > 400
    assert figures["intended"] == (figures["sent"] + figures["dropped"] + figures["unsent"])
    assert run.returncode == 1  # judged on the corrected latency
    (line,) = [line for line in run.lines() if line.startswith("loadtests: open model:")]
    assert "p99 corrected" in line and "uncorrected" in line
    assert {a["stage"]["rate_per_s"] for a in run.aggregates()} == {100.0}
