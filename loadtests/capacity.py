"""Capacity of a staged run: per stage the load, the latency, the shares and the burn rates.

`build` is pure: it takes the typed `aggregate` records a load run wrote, as the SLO
module's one reader gives them (`slo.sources.read_results`), merges their
HdrHistograms per stage, and walks the stages by increasing load. A stage
counts as capacity when all of these hold:

- p95 (the policy's percentile) <= the SLA, judged exactly from `within_sla`;
- error share <= `--max-error-ratio` and 429 share <= `--max-429-ratio`;
- availability and latency burn rates <= 1 against the contract's objectives
  (99.9 % answered and not 5xx; 95 % answered within the SLA).

The capacity is the last such stage before the first that is not; a 429 is no
availability error by the contract's SLI, so the 429 threshold is what keeps a
rate-limited stage from being called capacity. `python -m loadtests.capacity
reports/load-results.jsonl` prints it for the latest run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loadtests.latency import merge_encoded, percentile_ms, release
from loadtests.thresholds import percentile_label, percentile_rank
from slo.errors import SloError
from slo.records import Aggregate, Record
from slo.runs import run_order

AVAILABILITY_OBJECTIVE = 0.999  # the contract's default SLOs (docs/slo.md)
LATENCY_OBJECTIVE = 0.95


@dataclass(frozen=True)
class Limits:
    """What a stage must meet to count as capacity."""

    percentile: float = 95.0
    max_error_ratio: float = 0.01
    max_rate_limited_ratio: float = 0.05
    availability_objective: float = AVAILABILITY_OBJECTIVE
    latency_objective: float = LATENCY_OBJECTIVE


@dataclass(frozen=True)
class StageRow:
    index: int | None
    users: int | None
    rate_per_s: float | None  # the open model's arrival rate, else None
    seconds: float
    requests: int
    answered: int
    errors: int  # no answer or 5xx: the availability SLI's bad events
    rate_limited: int
    within_sla: int
    offered_rps: float
    achieved_rps: float  # answered, not 5xx, not 429, per second
    error_ratio: float
    rate_limited_ratio: float
    availability_sli: float | None
    availability_burn_rate: float | None
    latency_sli: float | None
    latency_burn_rate: float | None
    p50_ms: float | None
    p95_ms: float | None  # at the limits' percentile
    p99_ms: float | None
    misses: tuple[str, ...]  # why it is not capacity; empty when it is

    @property
    def load(self) -> float:
        return float(self.rate_per_s if self.rate_per_s is not None else self.users or 0)


@dataclass(frozen=True)
class CapacityReport:
    run_id: str
    sla_ms: float
    limits: Limits
    rows: tuple[StageRow, ...]
    knee: StageRow | None  # the busiest stage that met every limit, below the first that did not
    broken: StageRow | None  # the first stage (by load) that did not

    @property
    def criteria(self) -> str:
        lim = self.limits
        return (
            f"highest stage whose {percentile_label(lim.percentile)} <= {self.sla_ms:g} ms, "
            f"error share <= {_limit(lim.max_error_ratio)}, 429 share <= "
            f"{_limit(lim.max_rate_limited_ratio)}, burn rate <= 1"
        )

    def verdict(self) -> str:
        if self.knee is None:
            head = f"capacity ({self.criteria}): none, the first stage already misses"
        else:
            k = self.knee
            head = (
                f"capacity ({self.criteria}): {_users(k.users)} users, "
                f"{k.achieved_rps:.1f} req/s (stage {_stage(k.index)})"
            )
        if self.broken is None and self.knee is not None:
            head += "\nno stage missed a limit: the capacity is at least this; step higher"
        if self.broken is not None:
            b = self.broken
            head += (
                f"\nnot capacity: stage {_stage(b.index)} ({_users(b.users)} users, "
                f"{b.achieved_rps:.1f} req/s): {'; '.join(b.misses)}"
            )
        return head

    def markdown(self) -> str:
        lim, label = self.limits, percentile_label(self.limits.percentile)
        load = [
            f"| stage | users | offered | achieved | duration | requests | p50 | {label} | p99 "
            "| errors | 429 | capacity |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|",
        ]
        for r in self.rows:
            load.append(
                f"| {_stage(r.index)} | {_users(r.users)} | {r.offered_rps:.1f} req/s "
                f"| {r.achieved_rps:.1f} req/s | {r.seconds:.1f} s | {r.requests} "
                f"| {_ms(r.p50_ms)} | {_ms(r.p95_ms)} | {_ms(r.p99_ms)} "
                f"| {_pct(r.error_ratio)} | {_pct(r.rate_limited_ratio)} "
                f"| {'yes' if not r.misses else 'no: ' + '; '.join(r.misses)} |"
            )
        slo = [
            f"| stage | users | availability SLI (objective {_limit(lim.availability_objective)}) "
            f"| availability burn rate | latency SLI (<= {self.sla_ms:g} ms, objective "
            f"{_limit(lim.latency_objective)}) | latency burn rate |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            slo.append(
                f"| {_stage(r.index)} | {_users(r.users)} | {_pct(r.availability_sli, 3)} "
                f"| {_burn(r.availability_burn_rate)} | {_pct(r.latency_sli, 3)} "
                f"| {_burn(r.latency_burn_rate)} |"
            )
        return (
            f"## Capacity: load run {self.run_id}\n\n### Load and latency per stage\n\n"
            + "\n".join(load)
            + "\n\n### SLI and error-budget burn rate per stage\n\n"
            + "\n".join(slo)
            + f"\n\n{self.verdict()}\n"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "sla_ms": self.sla_ms,
            "limits": asdict(self.limits),
            "criteria": self.criteria,
            "stages": [asdict(r) for r in self.rows],
            "capacity": asdict(self.knee) if self.knee else None,
            "first_miss": asdict(self.broken) if self.broken else None,
        }


def _stage(index: int | None) -> str:
    return "-" if index is None else str(index + 1)


def _users(users: int | None) -> str:
    return "-" if users is None else str(users)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _pct(value: float | None, digits: int = 2) -> str:
    """A measured share, fixed digits: `3.10 %`."""
    return "-" if value is None else f"{value * 100:.{digits}f} %"


def _limit(value: float) -> str:
    """A configured limit as given: `1 %`, `99.9 %`."""
    return f"{value * 100:g} %"


def _burn(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def latest_run(records: Iterable[Record]) -> str | None:
    """The latest load run with aggregate records (:func:`slo.runs.latest_run_id`'s rule)."""
    records = list(records)
    measured = {
        r.header.run_id for r in records if isinstance(r, Aggregate) and r.header.source == "load"
    }
    order = [run_id for run_id in run_order(records, "load") if run_id in measured]
    return order[-1] if order else None


def _misses(row: dict[str, Any], sla_ms: float, limits: Limits) -> tuple[str, ...]:
    """Every limit the stage misses, each with its figure, its unit and its limit."""
    misses = []
    label = percentile_label(limits.percentile)
    answered = row["answered"]
    if answered and row["within_sla"] < percentile_rank(answered, limits.percentile):
        p = row["p95_ms"]
        if p is None:  # no histogram in the records: the count says it all the same
            within = row["within_sla"] / answered
            misses.append(f"{label} > {sla_ms:g} ms (only {_pct(within)} within it)")
        else:
            misses.append(f"{label} {p:.1f} ms > {sla_ms:g} ms")
    if row["error_ratio"] > limits.max_error_ratio:
        misses.append(f"error share {_pct(row['error_ratio'])} > {_limit(limits.max_error_ratio)}")
    if row["rate_limited_ratio"] > limits.max_rate_limited_ratio:
        misses.append(
            f"429 share {_pct(row['rate_limited_ratio'])} > {_limit(limits.max_rate_limited_ratio)}"
        )
    for name in ("availability", "latency"):
        burn = row[f"{name}_burn_rate"]
        if burn is not None and burn > 1.0 + 1e-9:
            misses.append(f"{name} burn rate {burn:.2f}x > 1x")
    return tuple(misses)


def build(
    records: Iterable[Record],
    *,
    run_id: str,
    limits: Limits | None = None,
) -> CapacityReport:
    """Rows per stage, in stage order, from one run's aggregate records."""
    limits = limits or Limits()
    groups: dict[int | None, list[Aggregate]] = {}
    for record in records:
        if isinstance(record, Aggregate) and record.header.run_id == run_id:
            groups.setdefault(record.stage_index, []).append(record)
    if not groups:
        raise ValueError(f"no aggregate records for run {run_id}")
    sla_ms = next(iter(groups.values()))[0].sla_ms
    rows = []
    for index in sorted(groups, key=lambda i: (i is None, i or 0)):
        group = groups[index]
        first = group[0]
        spans = {r.ts: r.bucket_s for r in group}
        seconds = sum(spans.values())
        total = sum(r.total for r in group)
        answered = sum(r.answered for r in group)
        server_errors = sum(r.server_errors for r in group)
        limited = sum(r.rate_limited for r in group)
        within = sum(r.within_sla for r in group)
        errors = total - answered + server_errors
        # `hdr` gives the percentiles shown; the p95 verdict comes from `within_sla`, so
        # a file without histograms (null `hdr`) still has a verdict, its p50/p95/p99 "-".
        histogram = merge_encoded(r.hdr for r in group if r.hdr)
        availability = 1.0 - errors / total if total else None
        latency = within / answered if answered else None
        rate = first.rate_per_s
        figures: dict[str, Any] = {
            "index": index,
            "users": None if first.users is None else int(first.users),
            "rate_per_s": rate,
            "seconds": seconds,
            "requests": total,
            "answered": answered,
            "errors": errors,
            "rate_limited": limited,
            "within_sla": within,
            "offered_rps": float(rate) if rate else (total / seconds if seconds else 0.0),
            "achieved_rps": (answered - server_errors - limited) / seconds if seconds else 0.0,
            "error_ratio": errors / total if total else 0.0,
            "rate_limited_ratio": limited / total if total else 0.0,
            "availability_sli": availability,
            "availability_burn_rate": _burn_rate(availability, limits.availability_objective),
            "latency_sli": latency,
            "latency_burn_rate": _burn_rate(latency, limits.latency_objective),
            "p50_ms": percentile_ms(histogram, 50),
            "p95_ms": percentile_ms(histogram, limits.percentile),
            "p99_ms": percentile_ms(histogram, 99),
        }
        release(histogram)
        rows.append(StageRow(**figures, misses=_misses(figures, sla_ms, limits)))
    knee = broken = None
    staged = sorted((r for r in rows if r.index is not None), key=lambda r: (r.load, r.index))
    for row in staged:
        if row.requests == 0:
            continue
        if row.misses:
            broken = row
            break
        knee = row
    return CapacityReport(run_id, sla_ms, limits, tuple(rows), knee, broken)


def _burn_rate(sli: float | None, objective: float) -> float | None:
    """How fast the stage spends the budget: 1 spends it exactly over the SLO's period."""
    return None if sli is None else (1.0 - sli) / (1.0 - objective)


def _ratio(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a ratio within [0, 1], got {text}")
    return value


def _objective(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected an objective within (0, 1), got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.capacity",
        description="Capacity of a staged load run: load, latency and burn rate per stage.",
    )
    parser.add_argument("results", type=Path, help="load results JSONL file")
    parser.add_argument("--run-id", help="run to report (default: the last in the file)")
    parser.add_argument("--percentile", type=float, default=95.0, help="default 95")
    parser.add_argument("--max-error-ratio", type=_ratio, default=0.01, help="default 0.01")
    parser.add_argument("--max-429-ratio", type=_ratio, default=0.05, help="default 0.05")
    parser.add_argument(
        "--availability-objective", type=_objective, default=AVAILABILITY_OBJECTIVE,
        help="default 0.999 (the contract's SLO)",
    )  # fmt: skip
    parser.add_argument(
        "--latency-objective", type=_objective, default=LATENCY_OBJECTIVE,
        help="share answered within the SLA, default 0.95 (the contract's SLO)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    from slo.sources import read_all  # the file reader (httpx, sqlite3) only for the command

    try:
        records, skipped = read_all(args.results)
    except SloError as exc:
        print(f"loadtests.capacity: {exc}", file=sys.stderr)
        return 2
    if skipped is not None:
        print(f"loadtests.capacity: {skipped}", file=sys.stderr)
    run_id = args.run_id or latest_run(records)
    if run_id is None:
        print(f"loadtests.capacity: {args.results}: no load aggregate records", file=sys.stderr)
        return 2
    limits = Limits(
        percentile=args.percentile,
        max_error_ratio=args.max_error_ratio,
        max_rate_limited_ratio=args.max_429_ratio,
        availability_objective=args.availability_objective,
        latency_objective=args.latency_objective,
    )
    try:
        report = build(records, run_id=run_id, limits=limits)
    except ValueError as exc:
        print(f"loadtests.capacity: {args.results}: {exc}", file=sys.stderr)
        return 2
    print(report.markdown(), end="")
    if args.json is not None:
        args.json.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
