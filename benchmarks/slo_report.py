"""Benchmark: an SLO report over 28 days of history must take <= 2 s and <= 200 MB.

History: a probe run every 5 minutes for 28 days (8064 runs), each with 100 samples and
100 outcomes, plus a stepped load run of 10 million requests (as the load profiles write
them: aggregate records per endpoint and 10 s bucket) in the same environment, where it
must be left out of the budget.

The ledger is built once (streamed through the real parser and ``Ledger.ingest``, which
also gives the ingest throughput) and cached under ``--work-dir``; the report then runs
as ``python -m slo report`` in a fresh process, timed from the outside, with peak RSS
taken from ``getrusage(RUSAGE_CHILDREN)``.

    python benchmarks/slo_report.py                    # all formats (md,html,json,png)
    python benchmarks/slo_report.py --format md,json   # without the PNG charts
    python benchmarks/slo_report.py --days 2 --load 100000 --check   # quick smoke
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from slo import spec as specs
from slo import synth
from slo.records import parse_record
from slo.store import IngestResult, Ledger

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z, fixed so the cached ledger stays valid
BUDGET_SECONDS = 2.0
BUDGET_MB = 200.0


def build_ledger(path: Path, days: int, load_requests: int) -> dict[str, float]:
    """Stream synthetic history through the parser into a fresh ledger."""
    spec = specs.from_path(None)
    runs = days * 288
    figures: dict[str, float] = {}
    started = time.perf_counter()
    with Ledger.open(path, create=True) as ledger:
        result = IngestResult("probe-history")
        records = (
            parse_record(json.dumps(r))
            for r in synth.probe_history(start=NOW - days * 86400, runs=runs, error_ratio=0.0008)
        )
        ledger.ingest(records, spec.slos, result, NOW)
        figures["probe_records"] = result.records
        per_stage = 200
        stages = max(1, round(load_requests / (500 * len(synth.ENDPOINTS) * per_stage)))
        load = synth.load_run(
            start=NOW - 6 * 3600,
            stages=[(10 * (i + 1), 50.0 * (i + 1), 0.0005 * i, 0.01 * i) for i in range(stages)],
            buckets_per_stage=per_stage,
            environment="production",
        )
        result = IngestResult("load-run")
        ledger.ingest((parse_record(json.dumps(r)) for r in load), spec.slos, result, NOW)
        figures["load_records"] = result.records
        figures["load_requests"] = sum(r.get("total", 0) for r in load)
    figures["ingest_seconds"] = time.perf_counter() - started
    return figures


def run_report(ledger: Path, out_dir: Path, formats: str) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of one ``python -m slo report`` process.

    CPU time is shown too because wall time on a shared machine includes waiting for it.
    """
    command = [
        sys.executable, "-m", "slo", "report", "--ledger", str(ledger), "--now", str(NOW),
        "--environment", "production", "--out-dir", str(out_dir), "--format", formats, "--quiet",
    ]  # fmt: skip
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    return seconds, cpu, max(usage.ru_maxrss, before) / 1024.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--load", type=int, default=10_000_000, help="load requests")
    parser.add_argument("--format", default="md,html,json,png")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "slo-bench")
    parser.add_argument("--check", action="store_true", help="exit 1 when over budget")
    args = parser.parse_args(argv)

    args.work_dir.mkdir(parents=True, exist_ok=True)
    ledger = args.work_dir / f"ledger-{args.days}d-{args.load}.sqlite"
    if not ledger.exists():
        partial = ledger.with_suffix(".partial")
        for stale in args.work_dir.glob(partial.name + "*"):
            stale.unlink()
        figures = build_ledger(partial, args.days, args.load)
        partial.rename(ledger)
        print(
            f"built {ledger}: {figures['probe_records']:,.0f} probe records, "
            f"{figures['load_records']:,.0f} load aggregates ({figures['load_requests']:,.0f} "
            f"requests) ingested in {figures['ingest_seconds']:.1f} s "
            f"({figures['probe_records'] / figures['ingest_seconds']:,.0f} records/s)"
        )
    size_mb = ledger.stat().st_size / 1e6
    times, cpus = [], []
    peak = 0.0
    for _ in range(args.repeat):
        seconds, cpu, peak_mb = run_report(ledger, args.work_dir / "out", args.format)
        times.append(seconds)
        cpus.append(cpu)
        peak = max(peak, peak_mb)
    best, worst = min(times), max(times)
    ok = best <= BUDGET_SECONDS and peak <= BUDGET_MB
    print(
        f"slo report ({args.format}) over {args.days} days, ledger {size_mb:.0f} MB: "
        f"best {best:.2f} s, worst {worst:.2f} s of {args.repeat} (CPU {min(cpus):.2f} s), "
        f"peak RSS {peak:.0f} MB "
        f"(budget {BUDGET_SECONDS:g} s, {BUDGET_MB:g} MB): {'OK' if ok else 'OVER BUDGET'}"
    )
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    raise SystemExit(main())
