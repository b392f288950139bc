"""Helpers for the load-profile self-tests: Locust as a subprocess, and what it wrote.

Locust is never imported here (gevent's monkey-patching breaks pytest-xdist);
it runs as `python -m locust -f loadtests/api.py` and the tests read what it
wrote: its exit status, its `loadtests:` lines, our results JSONL and summary,
and Locust's own `--json-file` stats. The reference server and ports come
from tests/support.py, like every other self-test's.

Timeouts are generous (the self-tests share two cores with other heavy
tests) but bounded; no test asserts on speed.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import support
from support import RunningServer

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "loadtests" / "api.py"
STARTUP_S = 60.0  # the reference server's start on a loaded machine
LOCUST_TIMEOUT_S = 180.0  # a whole Locust run, start-up and shutdown included
# For runs whose subject is not the latency verdict: a starved CPU must not fail them.
LENIENT_SLA = ("--st-sla-ms", "5000")


@dataclass(frozen=True)
class LocustRun:
    returncode: int
    stdout: str
    stderr: str
    records: list[dict[str, Any]]
    summary: dict[str, Any] | None
    stats: list[dict[str, Any]]

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def lines(self) -> list[str]:
        """Our own lines (`loadtests: ...`), without Locust's log."""
        return [line for line in self.stderr.splitlines() if line.startswith("loadtests:")]

    def aggregates(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["kind"] == "aggregate"]

    def locust_requests(self) -> int:
        return sum(entry["num_requests"] for entry in self.stats)


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "PYTEST_"))}


@contextlib.contextmanager
def refserver(workdir: Path, *args: str) -> Iterator[RunningServer]:
    """The reference server (tests/support.py), with a start-up timeout for a busy machine."""
    with support.refserver(workdir, *args, startup_s=STARTUP_S) as server:
        yield server


def locust_command(workdir: Path, *args: str, only_summary: bool = True) -> list[str]:
    """`locust --headless`, results in `workdir`; `only_summary=False` keeps what a user sees
    (the project's stage lines, or Locust's table with --st-stats-table)."""
    return [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        *(["--only-summary"] if only_summary else []),
        "--st-results", str(workdir / "results.jsonl"),
        "--st-summary", str(workdir / "summary.json"),
        "--json-file", str(workdir / "locust"),
        *args,
    ]  # fmt: skip


def read_run(workdir: Path, returncode: int, stdout: str, stderr: str) -> LocustRun:
    results, summary, stats = (
        workdir / "results.jsonl",
        workdir / "summary.json",
        workdir / "locust.json",
    )
    return LocustRun(
        returncode,
        stdout,
        stderr,
        [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else [],
        json.loads(summary.read_text()) if summary.exists() else None,
        json.loads(stats.read_text()) if stats.exists() else [],
    )


def run_locust(
    workdir: Path, *args: str, timeout: float = LOCUST_TIMEOUT_S, only_summary: bool = True
) -> LocustRun:
    workdir.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        locust_command(workdir, *args, only_summary=only_summary),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
    )
    return read_run(workdir, completed.returncode, completed.stdout, completed.stderr)


def python(*args: str) -> subprocess.CompletedProcess[str]:
    """`python ARGS` from the repository root (the project's other commands)."""
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
