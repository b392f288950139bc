"""Capacity report of a step run: throughput and latency per stage, and where it breaks.

Pure: it reads the `aggregate` records a load run wrote (the same ones the SLO
module ingests), merges their HdrHistograms per stage and finds the last
stage before the first one that misses the SLA or errors. `python -m
loadtests.capacity reports/load-results.jsonl` prints it for the latest run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.latency import merge_encoded, percentile_ms


@dataclass(frozen=True)
class StageRow:
    index: int | None
    users: int | None
    rate_per_s: float | None
    seconds: float
    requests: int
    throughput_rps: float
    error_ratio: float
    rate_limited_ratio: float
    within_sla_ratio: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class CapacityReport:
    run_id: str
    sla_ms: float
    rows: tuple[StageRow, ...]
    knee: StageRow | None  # the busiest stage that still met the SLA and error limit
    broken: StageRow | None  # the first stage that did not

    def markdown(self) -> str:
        head = (
            "| stage | users | rate/s | s | requests | req/s | error | 429 "
            f"| <= {self.sla_ms:g} ms | p50 ms | p95 ms | p99 ms |\n"
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        )
        lines = [
            f"| {_f(r.index)} | {_f(r.users)} | {_f(r.rate_per_s)} | {r.seconds:g} "
            f"| {r.requests} | {r.throughput_rps:.1f} | {r.error_ratio:.4f} "
            f"| {r.rate_limited_ratio:.4f} | {r.within_sla_ratio:.4f} "
            f"| {_f(r.p50_ms)} | {_f(r.p95_ms)} | {_f(r.p99_ms)} |"
            for r in self.rows
        ]
        if self.knee is None:
            verdict = "no stage met the SLA"
        else:
            verdict = (
                f"capacity: {self.knee.throughput_rps:.1f} req/s at stage {self.knee.index} "
                f"({self.knee.users} users)"
            )
        if self.broken is not None:
            verdict += f"; broke at stage {self.broken.index} ({self.broken.users} users)"
        return head + "\n".join(lines) + f"\n\n{verdict}\n"


def _f(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def latest_run(records: Iterable[dict[str, Any]]) -> str | None:
    run_id = None
    for record in records:
        if record.get("source") == "load" and record.get("kind") == "aggregate":
            run_id = record["run_id"]
    return run_id


def build(
    records: Sequence[dict[str, Any]],
    *,
    run_id: str,
    percentile: float = 95.0,
    max_error_ratio: float = 0.01,
) -> CapacityReport:
    """Rows per stage, in stage order, from one run's aggregate records."""
    groups: dict[int | None, list[dict[str, Any]]] = {}
    for record in records:
        if record.get("kind") == "aggregate" and record.get("run_id") == run_id:
            stage = record.get("stage") or {}
            groups.setdefault(stage.get("index"), []).append(record)
    if not groups:
        raise ValueError(f"no aggregate records for run {run_id}")
    sla_ms = float(next(iter(groups.values()))[0]["sla_ms"])
    rows = []
    for index in sorted(groups, key=lambda i: (i is None, i or 0)):
        group = groups[index]
        stage = group[0].get("stage") or {}
        seconds = len({r["ts"] for r in group}) * float(group[0]["bucket_s"])
        total = sum(r["total"] for r in group)
        answered = sum(r["answered"] for r in group)
        errors = total - answered + sum(r["server_errors"] for r in group)
        histogram = merge_encoded(r["hdr"] for r in group)
        rows.append(
            StageRow(
                index=index,
                users=stage.get("users"),
                rate_per_s=stage.get("rate_per_s"),
                seconds=seconds,
                requests=total,
                throughput_rps=total / seconds if seconds else 0.0,
                error_ratio=errors / total if total else 0.0,
                rate_limited_ratio=sum(r["rate_limited"] for r in group) / total if total else 0.0,
                within_sla_ratio=sum(r["within_sla"] for r in group) / answered
                if answered
                else 0.0,
                p50_ms=percentile_ms(histogram, 50),
                p95_ms=percentile_ms(histogram, percentile),
                p99_ms=percentile_ms(histogram, 99),
            )
        )
    knee = broken = None
    for row in rows:
        if row.index is None:
            continue
        ok = row.within_sla_ratio >= percentile / 100.0 and row.error_ratio <= max_error_ratio
        if not ok:
            broken = row
            break
        knee = row
    return CapacityReport(run_id, sla_ms, tuple(rows), knee, broken)


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every complete line; a truncated last line (killed run) is skipped."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.capacity", description=__doc__)
    parser.add_argument("results", type=Path, help="load results JSONL file")
    parser.add_argument("--run-id", help="run to report (default: the last in the file)")
    parser.add_argument("--percentile", type=float, default=95.0)
    args = parser.parse_args(argv)
    try:
        records = read_records(args.results)
    except OSError as exc:
        print(f"loadtests.capacity: {args.results}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    run_id = args.run_id or latest_run(records)
    if run_id is None:
        print(f"loadtests.capacity: {args.results}: no load aggregate records", file=sys.stderr)
        return 2
    try:
        report = build(records, run_id=run_id, percentile=args.percentile)
    except ValueError as exc:
        print(f"loadtests.capacity: {exc}", file=sys.stderr)
        return 2
    print(report.markdown(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
