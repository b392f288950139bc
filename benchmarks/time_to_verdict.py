"""Time to verdict: per scenario, the plan, the requests sent, the wall time and the floor.

    python benchmarks/time_to_verdict.py [--rate 50] [--burst 50] [--runs 1]
        [--scenarios conforming,traversal-validate-before-decode,auth-open-route,
         latency-slow-endpoint,tail-10pct-400ms,ratelimit-retry-after-lies,...]
        [--budget SECONDS] [--slot N] [--rtt-ms MS]

Each scenario is `pytest probes` as a user runs it, against the embedded
reference server with a profile stating `--rate`/`--burst` (the server is
started to enforce exactly that) and, but for `conforming`, the named fault.
Printed per scenario: the plan's requests (low-high) as the run announced
it, the requests actually sent (the results file's samples), the wall time
of the whole run (interpreter start to exit), the floor (the requests sent
at the profile's rate: what a perfect client spending the whole limit could
not beat) and the ratio of wall time to floor, plus the run's exit status
and failing families. `--budget` adds `--st-budget`: the run must then fit
it, and the coverage line says which slice it sent. `--rtt-ms` puts the
server (started apart, the fault by `--fault`) behind a delaying proxy of that
round trip: time bound by round trips rather than by the limit shows as a
ratio well over 1. `tail-10pct-400ms` is no fault but the reference server's
service-time options (a tenth of answers at 400 ms, at random: a p95 breach),
run against the server started apart.

Runs as on a user's machine: Python may write its bytecode caches (this
project's CI image sets PYTHONDONTWRITEBYTECODE, which makes every run compile
every module and rewrite every pytest plugin again, about 0.7 s of start-up),
and one collection is run first, untimed, so the first scenario does not pay
for filling them.

Figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIOS = (
    "conforming",
    "traversal-validate-before-decode",
    "auth-open-route",
    "latency-slow-endpoint",
    "tail-10pct-400ms",
    "ratelimit-retry-after-lies",
)
# Scenarios that are no named fault but the reference server's service-time options,
# run against the server started apart: the "p95 breach (10 % of answers at 400 ms)".
SERVER_SCENARIOS = {
    "tail-10pct-400ms": (
        "--latency-tail-ratio", "0.1", "--latency-tail-ms", "400", "--latency-seed", "1",
    ),
}  # fmt: skip
# The claim rules of the embedded bench profile, for a server started apart.
CLAIMS = {"issuer": "spacetime", "audience": "spacetime-api", "max_lifetime_s": 86400}
CLAIM_ARGS = ("--issuer", "spacetime", "--audience", "spacetime-api",
              "--max-token-lifetime", "86400")  # fmt: skip


def warm_caches() -> None:
    """A user's environment: bytecode caches written and read (see the module's docstring),
    and one untimed collection, so every scenario starts with the caches a user's second
    run finds."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # inherited by every run below
    subprocess.run(
        [sys.executable, "-m", "pytest", "probes", "-q", "-p", "no:cacheprovider",
         "--collect-only"],
        cwd=ROOT, capture_output=True, timeout=300, check=False,
    )  # fmt: skip


def _profile(directory: Path, rate: float, burst: int) -> Path:
    path = directory / "profile.yaml"
    path.write_text(
        f"name: bench\nenvironment: local\nrate_limit: {{rate_per_second: {rate:g}, "
        f"burst: {burst}}}\nauth: {json.dumps(CLAIMS)}\n"  # JSON is YAML's flow style
        "scenes: [res://vr_main.tscn, res://scenes/lobby.tscn]\n"
    )
    return path


def run_far(scenario: str, rate: float, burst: int, rtt_ms: float | None) -> dict:
    """The whole suite against the reference server started apart (the bench profile's
    claim rules, and the scenario's fault or service-time options), behind a delaying
    proxy of `rtt_ms` (+-10 ms jitter) on both ports when given, as a target across a
    network is."""
    if str(ROOT / "tests") not in sys.path:  # once, not per scenario
        sys.path.insert(0, str(ROOT / "tests"))
    from support import family_against_refserver

    if scenario in SERVER_SCENARIOS:
        server_args = SERVER_SCENARIOS[scenario]
    else:
        server_args = () if scenario == "conforming" else ("--fault", scenario)
    with tempfile.TemporaryDirectory(prefix="spacetime-ttv-") as scratch:
        started = time.perf_counter()
        done = family_against_refserver(
            Path(scratch), "", *CLAIM_ARGS, *server_args, rate_per_second=rate, burst=burst,
            profile_extra={"auth": CLAIMS}, rtt_ms=rtt_ms, timeout=3600, selection=("probes",),
        )  # fmt: skip
        wall = time.perf_counter() - started
        return _row(scenario, done.records, wall, rate, done.returncode)


def run(scenario: str, rate: float, burst: int, budget: float | None, slot: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="spacetime-ttv-") as scratch:
        directory = Path(scratch)
        results = directory / "results.jsonl"
        command = [
            sys.executable, "-m", "pytest", "probes", "-q", "-p", "no:cacheprovider",
            f"--st-profile={_profile(directory, rate, burst)}", f"--st-results={results}",
            f"--junitxml={directory / 'junit.xml'}", f"--alluredir={directory / 'allure'}",
        ]  # fmt: skip
        if scenario != "conforming":
            command.append(f"--st-embedded-fault={scenario}")
        if budget is not None:
            command += [f"--st-budget={budget:g}", f"--st-slot={slot}"]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=3600)
        wall = time.perf_counter() - started
        records = [json.loads(line) for line in results.read_text().splitlines() if line]
    return _row(scenario, records, wall, rate, done.returncode)


def _row(scenario: str, records: list[dict], wall: float, rate: float, exit_status: int) -> dict:
    sent = sum(1 for r in records if r["kind"] == "sample")
    (end,) = [r for r in records if r["kind"] == "run" and r.get("phase") == "end"]
    failing = sorted(
        {r["family"] for r in records if r["kind"] == "outcome" and r["outcome"] == "failed"}
    )
    plan = end.get("plan") or {}
    coverage = end.get("coverage") or {}
    return {
        "scenario": scenario,
        "plan": plan.get("requests"),
        "sent": sent,
        "wall_s": wall,
        "floor_s": sent / rate,
        "exit": exit_status,
        "failing": failing,
        "coverage": coverage.get("text"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS))
    parser.add_argument("--budget", type=float, default=None)
    parser.add_argument("--slot", type=int, default=0)
    parser.add_argument("--rtt-ms", type=float, default=None,
                        help="the target behind a delaying proxy of this round trip")  # fmt: skip
    args = parser.parse_args()
    if args.rtt_ms is not None and args.budget is not None:
        parser.error("--rtt-ms runs the whole suite; it takes no --budget")
    print(f"time to verdict at {args.rate:g} r/s, burst {args.burst}"
          + (f", budget {args.budget:g} s" if args.budget else "")
          + (f", {args.rtt_ms:g} ms round trip" if args.rtt_ms is not None else ""))  # fmt: skip
    warm_caches()
    print(f"{'scenario':<34}{'plan':>13}{'sent':>7}{'wall s':>8}{'floor s':>9}{'ratio':>7}"
          "  exit  failing")  # fmt: skip
    for scenario in args.scenarios.split(","):
        for index in range(args.runs):
            row = (
                run(scenario, args.rate, args.burst, args.budget, args.slot + index)
                if args.rtt_ms is None and scenario not in SERVER_SCENARIOS
                else run_far(scenario, args.rate, args.burst, args.rtt_ms)
            )
            plan = row["plan"] or {}
            planned = f"{plan.get('low', '?')}-{plan.get('high', '?')}"
            ratio = row["wall_s"] / row["floor_s"] if row["floor_s"] else float("inf")
            print(
                f"{scenario:<34}{planned:>13}{row['sent']:>7}{row['wall_s']:>8.1f}"
                f"{row['floor_s']:>9.1f}{ratio:>7.2f}  {row['exit']:>4}  "
                f"{','.join(row['failing']) or '-'}"
            )
            if row["coverage"]:
                print(f"    {row['coverage']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
