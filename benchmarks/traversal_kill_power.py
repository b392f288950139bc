"""Kill power of the traversal family's generated examples, measured on the fault matrix.

    python benchmarks/traversal_kill_power.py [--examples 1,3,5,10] [--faults a,b,...]

Each traversal fault of the reference server (and the conforming server) is run
through `pytest probes/test_traversal.py --st-examples=N` for every N, as a user
runs it. Printed per fault: caught or not at each N, and the requests the family
sent; then per N the faults caught, the requests in all and the conforming run's
exit status. An N that catches what 10 catches shows that the examples above it
add no kill power against the known faults (what they may still find in an unknown
implementation is not measured here).

Figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def traversal_faults() -> list[str]:
    listing = subprocess.run(
        [sys.executable, "-m", "refserver", "--list-faults"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    rows = [line.split("\t") for line in listing.stdout.splitlines() if line.strip()]
    return [row[0] for row in rows if row[1] == "traversal"]


def run(fault: str | None, examples: int) -> tuple[int, int, bool]:
    """(exit status, requests sent, traversal failed) of one run."""
    with tempfile.TemporaryDirectory(prefix="spacetime-kill-") as scratch:
        results = Path(scratch) / "results.jsonl"
        command = [
            sys.executable, "-m", "pytest", "probes/test_traversal.py", "-q",
            "-p", "no:cacheprovider", "-p", "no:randomly", f"--st-results={results}",
            f"--junitxml={Path(scratch) / 'junit.xml'}",
            f"--alluredir={Path(scratch) / 'allure'}", f"--st-examples={examples}",
        ]  # fmt: skip
        if fault is not None:
            command.append(f"--st-embedded-fault={fault}")
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
        records = [json.loads(line) for line in results.read_text().splitlines() if line]
    sent = sum(1 for r in records if r["kind"] == "sample")
    failed = any(
        r["kind"] == "outcome" and r["outcome"] == "failed" and r["family"] == "traversal"
        for r in records
    )
    return done.returncode, sent, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", default="1,3,5,10")
    parser.add_argument("--faults", help="comma-separated (default: every traversal fault)")
    args = parser.parse_args()
    counts = [int(n) for n in args.examples.split(",")]
    faults = args.faults.split(",") if args.faults else traversal_faults()
    caught = {n: 0 for n in counts}
    sent = {n: 0 for n in counts}
    print(f"{'fault':36}" + "".join(f"  N={n:<10}" for n in counts))
    for fault in faults:
        cells = []
        for n in counts:
            _, requests, failed = run(fault, n)
            caught[n] += failed
            sent[n] += requests
            cells.append(f"  {'caught' if failed else 'MISSED'} {requests:<4}")
        print(f"{fault:36}" + "".join(cells), flush=True)
    conforming = [run(None, n) for n in counts]
    print(f"{'conforming (exit, requests)':36}" + "".join(
        f"  exit {code} {requests:<4}" for code, requests, _ in conforming
    ))  # fmt: skip
    for n, (code, requests, _) in zip(counts, conforming, strict=True):
        print(f"N={n}: caught {caught[n]} of {len(faults)} faults, {sent[n]} requests over "
              f"the faults, the conforming run exit {code} with {requests} requests")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
