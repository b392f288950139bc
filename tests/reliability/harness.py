"""Run the probes as a user does, measuring wall time and the run's own peak memory.

Like `support.run_probes`, plus the child's peak resident memory: its
VmHWM, polled from /proc every 20 ms while it runs. Not `ru_maxrss`
(`wait4` or `RUSAGE_CHILDREN`): Linux carries the parent's high-water mark
into a vforked child at exec, so every child would report at least this
test process's own peak.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reliability.hostile import HostileServer
from support import (
    ROOT,
    SELF_TEST_REPORTS,
    ProbeRun,
    mint_token,
    probe_command,
    probe_environment,
    read_records,
)

REPORTS = SELF_TEST_REPORTS


@dataclass(frozen=True)
class MeasuredRun:
    run: ProbeRun
    wall_s: float
    max_rss_mib: float
    timed_out: bool

    @property
    def returncode(self) -> int:
        return self.run.returncode

    @property
    def output(self) -> str:
        return self.run.output

    def outcome_records(self) -> list[dict[str, Any]]:
        return [r for r in self.run.records if r["kind"] == "outcome"]

    def failing(self) -> list[dict[str, Any]]:
        return [r for r in self.outcome_records() if r["outcome"] in {"failed", "error"}]

    def samples_per_probe(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.run.records:
            if record["kind"] == "sample":
                counts[record["probe"]] = counts.get(record["probe"], 0) + 1
        return counts


def run_measured(
    out_dir: Path, *args: str, timeout: float = 180, env: dict[str, str] | None = None
) -> MeasuredRun:
    """`python -m pytest probes ...` from the repository root, outputs under `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / "results.jsonl"
    command = probe_command(out_dir, *args)
    environment = probe_environment(env)
    stdout_path, stderr_path = out_dir / "stdout.txt", out_dir / "stderr.txt"
    started = time.perf_counter()
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
            env=environment, start_new_session=True,
        )  # fmt: skip
    timed_out = False
    deadline = started + timeout
    peak_kib = 0
    while True:
        peak_kib = max(peak_kib, _high_water_kib(process.pid))
        pid, status = os.waitpid(process.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline and not timed_out:
            timed_out = True
            os.killpg(process.pid, signal.SIGKILL)
        time.sleep(0.02)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # tell Popen it is reaped
    records = read_records(results)
    output = stdout_path.read_text(errors="replace") + stderr_path.read_text(errors="replace")
    return MeasuredRun(
        run=ProbeRun(process.returncode, output, results, records),
        wall_s=wall,
        max_rss_mib=peak_kib / 1024,
        timed_out=timed_out,
    )


def _high_water_kib(pid: int) -> int:
    """VmHWM: the peak resident set of the process's own memory, in KiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def write_profile(path: Path, *, timeout_s: float = 1.0, production: bool = False,
                  rate: float = 1000, burst: int = 1000, **extra: str) -> Path:  # fmt: skip
    """A profile for hostile targets: a high limit (no pacing waits), 5 latency samples."""
    lines = [
        "name: reliability",
        f"environment: {'production' if production else 'local'}",
        f"rate_limit: {{rate_per_second: {rate:g}, burst: {burst}}}",
        "sla: {min_samples: 5, max_samples: 5, batch: 5}",
        "scenes: [res://vr_main.tscn, res://scenes/lobby.tscn, res://scenes/levels/level_01.tscn]",
        f"request_timeout_s: {timeout_s:g}",
        *(f"{key}: {value}" for key, value in extra.items()),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def save_row(table: str, name: str, row: dict[str, Any]) -> None:
    """One row of a self-test table, printed at the session's end by tests/conftest.py."""
    rows = REPORTS / table
    rows.mkdir(parents=True, exist_ok=True)
    (rows / f"{name}.json").write_text(json.dumps(row, indent=1))


@contextlib.contextmanager
def tls_family_run(
    tmp_path: Path, ca_cert: Path, context: ssl.SSLContext, *extra: str
) -> Iterator[tuple[HostileServer, MeasuredRun]]:
    """The tls family against a server with `context`, trusting `ca_cert`; the server stays
    up while the block runs (another tool may probe it too)."""
    token = tmp_path / "token"
    token.write_text(mint_token("tls"))
    profile = write_profile(tmp_path / "profile.yaml", timeout_s=2)
    with HostileServer("ok", ssl_context=context) as server:
        run = run_measured(
            tmp_path / "out", f"--st-target={server.url}", f"--st-token-file={token}",
            f"--st-profile={profile}", f"--st-ca-file={ca_cert}", "-k", "test_tls", *extra,
        )  # fmt: skip
        yield server, run
