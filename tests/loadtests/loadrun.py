"""Helpers for the load-profile self-tests: a reference server and Locust as a subprocess.

Locust is never imported here (gevent's monkey-patching breaks pytest-xdist);
it runs as `python -m locust -f loadtests/api.py` and the tests read what it
wrote: its exit status, its `loadtests:` lines, our results JSONL and summary,
and Locust's own `--json-file` stats.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "loadtests" / "api.py"


@dataclass(frozen=True)
class Server:
    base_url: str
    manager_url: str
    token_file: Path


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "PYTEST_"))}


@contextlib.contextmanager
def refserver(workdir: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """`python -m refserver` on free loopback ports, stopped afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    ready, token = workdir / "ready.json", workdir / "jwt_token.txt"
    command = [
        sys.executable, "-m", "refserver", "--port", "0", "--manager-port", "0",
        "--ready-file", str(ready), "--token-file", str(token), *args,
    ]  # fmt: skip
    with open(workdir / "server.log", "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**clean_env(), **(env or {})},
        )
        try:
            deadline = time.monotonic() + 30
            while not (ready.exists() and token.exists() and ready.read_text().strip()):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((workdir / "server.log").read_text()[-2000:])
                time.sleep(0.05)
            ports = json.loads(ready.read_text())
            yield Server(
                f"http://127.0.0.1:{ports['port']}",
                f"http://127.0.0.1:{ports['manager_port']}",
                token,
            )
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def locust_command(workdir: Path, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
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


def run_locust(workdir: Path, *args: str, timeout: float = 120) -> LocustRun:
    workdir.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        locust_command(workdir, *args),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
    )
    return read_run(workdir, completed.returncode, completed.stdout, completed.stderr)
