"""The reference server under Locust: at the embedded profile's limit, and far over it.

`python -m refserver --rate 100 --burst 100` (the embedded profile's limit),
Locust headless as a subprocess with tests/reliability/locustfile.py from
one client address:

- at the limit (90 r/s for 15 s): every request answered 200, no 429, no
  5xx, no transport error;
- far over it (300 r/s for 8 s): the excess gets 429 with Retry-After,
  nothing else fails, and the admitted rate stays at the bucket's;
- the server's resident memory grows by less than 20 MiB across both.

The figures are printed and kept in reports/self-test/reliability.md.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from reliability.harness import save_row
from support import ROOT, refserver

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.cpu_heavy]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
RATE, BURST = 100, 100
RSS_GROWTH_LIMIT_MIB = 20.0


@dataclass(frozen=True)
class LoadRun:
    seconds: float
    requests: int
    failures: dict[str, int]  # failure name -> occurrences
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    returncode: int
    output: str

    @property
    def ok(self) -> int:
        return self.requests - sum(self.failures.values())


def _locust(
    tmp: Path, host: str, token: Path, *, users: int, user_rate: float, seconds: int
) -> LoadRun:
    prefix = tmp / f"locust-{users}u"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LOCUST_"))}
    env.update(RELIABILITY_TOKEN_FILE=str(token), RELIABILITY_USER_RATE=str(user_rate))
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", host,
        "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "2",
        "--exit-code-on-error", "0",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=seconds + 60, stdin=subprocess.DEVNULL)  # fmt: skip
    output = done.stdout + done.stderr
    with open(f"{prefix}_stats.csv", newline="") as handle:
        total = {row["Name"]: row for row in csv.DictReader(handle)}["Aggregated"]
    failures: dict[str, int] = {}
    with open(f"{prefix}_failures.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            name = _failure_name(row["Error"])
            failures[name] = failures.get(name, 0) + int(row["Occurrences"])
    return LoadRun(
        seconds=seconds,
        requests=int(total["Request Count"]),
        failures=failures,
        rps=float(total["Requests/s"]),
        p50_ms=_number(total["50%"]),
        p95_ms=_number(total["95%"]),
        p99_ms=_number(total["99%"]),
        max_ms=_number(total["Max Response Time"]),
        returncode=done.returncode,
        output=output,
    )


def _number(text: str) -> float:
    """Locust writes "N/A" for the percentiles of a run that sent nothing."""
    return math.nan if text.strip() in {"", "N/A"} else float(text)


def _failure_name(error: str) -> str:
    """Locust keeps `CatchResponseError('429 with Retry-After')`: the name inside."""
    match = re.fullmatch(r"""CatchResponseError\((['"])(.*)\1\)""", error)
    return match.group(2) if match else error


def _memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in {"VmRSS", "VmHWM"}:
            fields[name] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def _describe(run: LoadRun) -> str:
    failures = ", ".join(f"{name}: {count}" for name, count in sorted(run.failures.items()))
    return (
        f"{run.requests} requests in {run.seconds} s ({run.rps:.0f}/s), {run.ok} answered 200; "
        f"{failures or 'no failures'}; p50 {run.p50_ms:.0f} ms, p95 {run.p95_ms:.0f} ms, "
        f"p99 {run.p99_ms:.0f} ms, max {run.max_ms:.0f} ms"
    )


def test_reference_server_holds_its_limit_under_locust(tmp_path: Path) -> None:
    with refserver(tmp_path / "server", "--rate", str(RATE), "--burst", str(BURST)) as server:
        pid = json.loads((tmp_path / "server" / "ready.json").read_text())["pid"]
        for attempt in range(3):  # a loaded machine may spawn no user within the first run
            warm = _locust(tmp_path / f"warm-{attempt}", server.base_url, server.token_file,
                           users=2, user_rate=10, seconds=2 + 2 * attempt)  # fmt: skip
            if warm.requests > 0:
                break
        assert warm.requests > 0, warm.output[-2000:]
        rss_before, _ = _memory_mib(pid)
        at_limit = _locust(tmp_path, server.base_url, server.token_file,
                           users=9, user_rate=10, seconds=15)  # fmt: skip
        rss_mid, _ = _memory_mib(pid)
        over = _locust(tmp_path, server.base_url, server.token_file,
                       users=30, user_rate=10, seconds=8)  # fmt: skip
        rss_after, hwm = _memory_mib(pid)

    figures = (
        f"at the limit ({RATE}/s, burst {BURST}; 9 users x 10/s): {_describe(at_limit)}. "
        f"Over it (30 users x 10/s): {_describe(over)}. Server RSS {rss_before:.1f} -> "
        f"{rss_mid:.1f} -> {rss_after:.1f} MiB (peak {hwm:.1f})"
    )
    print(figures)
    save_row("reliability", "load", {"name": "reference server under Locust", "figures": figures})

    assert at_limit.returncode in {0, 1}, at_limit.output[-3000:]
    assert at_limit.requests >= 0.8 * 90 * at_limit.seconds, _describe(at_limit)
    assert not at_limit.failures, _describe(at_limit)

    assert over.returncode in {0, 1}, over.output[-3000:]
    assert set(over.failures) == {"429 with Retry-After"}, _describe(over)
    admitted_rps = over.ok / over.seconds
    assert over.failures["429 with Retry-After"] > 0.3 * over.requests, _describe(over)
    # The bucket admits its burst plus the refill: well under what was offered.
    assert admitted_rps <= RATE * 1.2 + BURST / over.seconds, _describe(over)

    assert rss_after - rss_before < RSS_GROWTH_LIMIT_MIB, figures
