"""Distributed runs on loopback: histograms merged on the master, written once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from loadrun import (
    LENIENT_SLA,
    LOCUST_TIMEOUT_S,
    LOCUSTFILE,
    LocustRun,
    clean_env,
    locust_command,
    read_run,
)
from support import RunningServer, free_port

from loadtests.latency import merge_encoded

pytestmark = [pytest.mark.integration, pytest.mark.cpu_heavy]


def assert_merged(run: LocustRun) -> None:
    assert run.returncode == 0, run.output[-3000:]
    assert [r["phase"] for r in run.records if r["kind"] == "run"] == ["start", "end"]
    aggregates = run.aggregates()
    assert sum(a["total"] for a in aggregates) == run.locust_requests() > 20
    answered = sum(a["answered"] for a in aggregates)
    assert merge_encoded(a["hdr"] for a in aggregates).get_total_count() == answered
    assert len({(a["method"], a["endpoint"], a["ts"]) for a in aggregates}) == len(aggregates)


def test_processes_2_merges_both_workers(
    conforming: RunningServer, locust_run: Callable[..., LocustRun]
) -> None:
    port = str(free_port())
    run = locust_run(
        "--processes", "2", "--master-bind-port", port, "--master-port", port,
        "--host", conforming.base_url, "--st-token-file", str(conforming.token_file),
        "-u", "6", "-r", "6", "-t", "5s", "--st-think-scale", "0.05", *LENIENT_SLA,
    )  # fmt: skip
    assert "2 workers connected" in run.output
    assert_merged(run)


def test_master_and_worker_processes_run_the_open_model(
    conforming: RunningServer, tmp_path: Path
) -> None:
    port = str(free_port())
    master_dir = tmp_path / "master"
    master_dir.mkdir()
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker",
            "--master-host", "127.0.0.1", "--master-port", port,
        ],
        cwd=tmp_path, env=clean_env(), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        completed = subprocess.run(
            locust_command(
                master_dir,
                "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                "--expect-workers", "1", "--expect-workers-max-wait", "30",
                "--host", conforming.base_url, "--st-token-file", str(conforming.token_file),
                "-t", "5s", "--st-open-rate", "30", "--st-open-connections", "4", *LENIENT_SLA,
            ),
            cwd=master_dir, env=clean_env(), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=LOCUST_TIMEOUT_S,
        )  # fmt: skip
        worker_err = worker.communicate(timeout=60)[1]
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
    run = read_run(master_dir, completed.returncode, completed.stdout, completed.stderr)
    assert "Traceback" not in worker_err, worker_err[-3000:]
    assert_merged(run)
    assert run.summary is not None
    figures = run.summary["open_model"]
    # 30/s for the ~5 s the dispatcher ran; wide bounds: the worker may start late on a
    # busy machine, and shape ticks and the stop message add a little
    assert 30 * 2 <= figures["intended"] <= 30 * 10
    assert figures["sent"] >= figures["intended"] - 10
    assert figures["p99_uncorrected_ms"] is not None  # the uncorrected HDR crossed the wire
