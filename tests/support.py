"""Self-test support: run the probe suite as a user does, in a subprocess, and read its results."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SELF_TEST_REPORTS = ROOT / "reports" / "self-test"


@dataclass(frozen=True)
class ProbeRun:
    returncode: int
    output: str
    results: Path
    records: list[dict]

    def outcomes(self) -> dict[str, str]:
        return {r["probe"]: r["outcome"] for r in self.records if r["kind"] == "outcome"}

    def failing_families(self) -> set[str]:
        return {
            r["family"]
            for r in self.records
            if r["kind"] == "outcome" and r["outcome"] in {"failed", "error"}
        }

    def failing_probes(self) -> list[str]:
        return sorted(p for p, o in self.outcomes().items() if o in {"failed", "error"})


def run_probes(
    out_dir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> ProbeRun:
    """`python -m pytest probes ...` from the repository root, outputs under `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / "results.jsonl"
    command = [
        sys.executable, "-m", "pytest", "probes", "-q", "-p", "no:randomly",
        f"--st-results={results}",
        f"--junitxml={out_dir / 'junit.xml'}",
        f"--alluredir={out_dir / 'allure-results'}",
        *args,
    ]  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ST_", "PYTEST_"))}
    environment.update(env or {})
    completed = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        stdin=subprocess.DEVNULL,
    )
    records = []
    if results.exists():
        records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return ProbeRun(completed.returncode, completed.stdout + completed.stderr, results, records)


def render_fault_table(rows: Sequence[dict]) -> str:
    lines = [
        "| fault | family | caught | failing families | failing probes |",
        "|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: (r["family"], r["fault"])):
        probes = row["failing_probes"]
        shown = ", ".join(p.split("::", 1)[1] for p in probes[:3])
        if len(probes) > 3:
            shown += f" (+{len(probes) - 3} more)"
        lines.append(
            f"| {row['fault']} | {row['family']} | {'yes' if row['caught'] else 'NO'} | "
            f"{', '.join(row['failing_families'])} | {shown} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    manager_url: str
    token_file: Path
    secret_file: Path
    request_log: Path


@contextlib.contextmanager
def refserver(workdir: Path, *args: str, startup_s: float = 20.0) -> Iterator[RunningServer]:
    """`python -m refserver` on free loopback ports, always stopped afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    ready = workdir / "ready.json"
    server = RunningServer("", "", workdir / "jwt_token.txt", workdir / "secret.txt",
                           workdir / "requests.jsonl")  # fmt: skip
    command = [
        sys.executable, "-m", "refserver", "--port", "0", "--manager-port", "0",
        "--ready-file", str(ready), "--token-file", str(server.token_file),
        "--secret-file", str(server.secret_file), "--request-log", str(server.request_log),
        *args,
    ]  # fmt: skip
    log = open(workdir / "server.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_s
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((workdir / "server.log").read_text()[-2000:])
            time.sleep(0.05)
        ports = json.loads(ready.read_text())
        yield dataclasses.replace(
            server,
            base_url=f"http://127.0.0.1:{ports['port']}",
            manager_url=f"http://127.0.0.1:{ports['manager_port']}",
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
