"""The thresholds catch the reference server's latency and rate-limit faults; the open
model sees a stall the uncorrected figure hides."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from loadrun import LocustRun, refserver

pytestmark = [pytest.mark.integration, pytest.mark.cpu_heavy]

Run = Callable[..., LocustRun]
NO_LIMIT = ("--rate", "100000", "--burst", "100000")
# One breach in the one-line reason: "<METHOD> <endpoint> p95 <exact ms> ms > 200 ms".
BREACH = re.compile(r"(GET|PUT|POST) (/\S+) p95 (\d+\.\d) ms > 200 ms")


def broken_line(run: LocustRun) -> str:
    """The run failed with exit status 1 and exactly one `threshold broken` line."""
    assert run.returncode == 1, run.output[-3000:]
    assert "Traceback" not in run.output
    (line,) = [line for line in run.lines() if "threshold broken" in line]
    assert line.startswith("loadtests: threshold broken: ")
    assert run.records[-1]["kind"] == "run" and run.records[-1]["exit_status"] == 1
    return line


def breaches(line: str) -> dict[str, float]:
    return {f"{method} {path}": float(ms) for method, path, ms in BREACH.findall(line)}


def closed_run(tmp_path: Path, locust_run: Run, *server_args: str) -> LocustRun:
    """4 s of 6 operators pausing 40-200 ms against a server with `server_args`."""
    with refserver(tmp_path / "server", *server_args) as server:
        return locust_run(
            "--host", server.base_url, "--st-token-file", str(server.token_file),
            "OperatorUser", "-u", "6", "-r", "6", "-t", "4s", "--st-think-scale", "0.02",
        )  # fmt: skip


def test_slow_server_breaks_the_p95_threshold(tmp_path: Path, locust_run: Run) -> None:
    run = closed_run(tmp_path, locust_run, *NO_LIMIT, "--fault", "latency-slow-all")
    slow = breaches(broken_line(run))
    assert slow and all(ms >= 300.0 for ms in slow.values())  # +300 ms, exact: no 10 ms bucket
    assert all(a["within_sla"] == 0 for a in run.aggregates() if a["endpoint"] != "/status")


def test_one_slow_endpoint_is_named_alone(tmp_path: Path, locust_run: Run) -> None:
    run = closed_run(tmp_path, locust_run, *NO_LIMIT, "--fault", "latency-slow-endpoint")
    slow = breaches(broken_line(run))
    assert list(slow) == ["GET /scene/history"]
    assert 250.0 <= slow["GET /scene/history"] < 1000.0


def test_a_slow_tail_with_a_good_mean_breaks_the_p95(tmp_path: Path, locust_run: Run) -> None:
    """Every 7th authenticated GET per endpoint takes +700 ms: 14 % of them, above 5 %."""
    run = closed_run(tmp_path, locust_run, *NO_LIMIT, "--fault", "latency-tail")
    slow = breaches(broken_line(run))
    assert slow and all(key.startswith("GET ") and ms >= 700.0 for key, ms in slow.items())
    assert "GET /status" not in slow  # unauthenticated: never slowed


def test_503_over_the_limit_is_an_error_not_a_429(tmp_path: Path, locust_run: Run) -> None:
    """nginx without `limit_req_status 429` answers 503: the error ratio breaks."""
    run = closed_run(
        tmp_path, locust_run, "--rate", "5", "--burst", "5", "--fault", "ratelimit-503"
    )
    line = broken_line(run)
    assert "all requests error ratio" in line and "429" not in line
    assert sum(a["server_errors"] for a in run.aggregates()) > 0
    assert sum(a["rate_limited"] for a in run.aggregates()) == 0


def test_open_model_corrected_p99_shows_a_stall_the_uncorrected_hides(
    tmp_path: Path, locust_run: Run
) -> None:
    # The fault's defaults: the whole API stalls 1 s every 3 s.
    with refserver(tmp_path / "server", *NO_LIMIT, "--fault", "latency-stall") as server:
        run = locust_run(
            "--host", server.base_url, "--st-token-file", str(server.token_file),
            "-t", "7s", "--st-open-rate", "200", "--st-open-connections", "2",
        )  # fmt: skip
    assert run.summary is not None, run.output[-3000:]
    figures = run.summary["open_model"]
    # a third of the requests were due while the server stood still: up to 1 s late
    assert figures["p99_corrected_ms"] >= 500.0, figures
    # while only the 2 in flight at each stall (3 stalls at most) waited: under 1% of
    # what was sent even at half the rate (a busy machine); the stall itself is 1000 ms
    assert figures["p99_uncorrected_ms"] < 300.0, figures
    assert figures["late"] > 0 and figures["sent"] > 600, figures
    assert figures["intended"] == (figures["sent"] + figures["dropped"] + figures["unsent"])
    assert run.returncode == 1  # judged on the corrected latency
    (line,) = [line for line in run.lines() if line.startswith("loadtests: open model:")]
    assert "p99 corrected" in line and "uncorrected" in line
    assert {a["stage"]["rate_per_s"] for a in run.aggregates()} == {200.0}
