"""The error budget's view of a stepped load run: SLI and burn rate per step. Pure.

Load traffic never spends a production budget; here it says where the burn rate first
crosses the page factors (for a 30-day SLO 6 and 14.4; derived from the period like
every other factor, so 5.6 and 13.44 for 28 days), and, from the ledger alone, the
highest load whose burn rate stays <= 1. That is not a capacity (429s burn no
availability budget): the capacity verdict is :mod:`loadtests.capacity`, which
`slo capacity FILE` prints first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from slo import budget
from slo.model import CapacityReport, CapacityStep, Counts, Crossing, Policy, Slo, StepRow
from slo.records import Aggregate, aggregate_events


def rows_from_aggregates(aggregates: Iterable[Aggregate], slo: Slo) -> list[StepRow]:
    """Sum a load run's aggregate records per stage (``-1`` when the shape set none)."""
    steps: dict[int, StepRow] = {}
    for agg in aggregates:
        index = agg.stage_index if agg.stage_index is not None else -1
        good, total = aggregate_events(agg, slo)
        step = steps.get(index) or StepRow(index, agg.users, agg.rate_per_s, 0.0, 0.0)
        steps[index] = replace(step, good=step.good + good, total=step.total + total)
    return [steps[index] for index in sorted(steps)]


def default_thresholds(slo: Slo, policy: Policy) -> tuple[float, ...]:
    """1, then each distinct page factor of the policy for this SLO's period, ascending."""
    factors = {a.factor(slo.period_seconds) for a in policy.alerts if a.severity == "page"}
    return tuple(sorted({1.0, *factors}))


def steps_from_rows(slo: Slo, rows: Iterable[StepRow]) -> tuple[CapacityStep, ...]:
    steps = []
    for row in rows:
        counts = Counts(row.good, row.total)
        steps.append(
            CapacityStep(
                stage_index=row.stage_index,
                users=row.users,
                rate_per_s=row.rate_per_s,
                counts=counts,
                sli_ratio=budget.sli_ratio(counts),
                burn_rate=budget.burn_rate(counts, slo.budget_ratio),
            )
        )
    return tuple(sorted(steps, key=lambda s: (s.load, s.stage_index)))


def analyse(slo: Slo, rows: Iterable[StepRow], thresholds: Sequence[float]) -> CapacityReport:
    """Walk the steps by increasing load.

    Sustainable load: the last step before the burn rate first exceeds 1 (steps without
    data are skipped, they neither pass nor fail). A crossing is the first step above the
    threshold; its interpolated load is linear in burn rate between that step and the one
    before it, and ``None`` when the very first step is already above.
    """
    steps = steps_from_rows(slo, rows)
    measured = [s for s in steps if s.burn_rate is not None]
    sustainable = None
    for step in measured:
        if step.burn_rate is not None and step.burn_rate > 1.0:
            break
        sustainable = step.load
    crossings = []
    for threshold in thresholds:
        crossing = Crossing(threshold, None, None, None)
        for i, step in enumerate(measured):
            rate = step.burn_rate
            if rate is None or rate <= threshold:
                continue
            interpolated = None
            if i > 0:
                prev = measured[i - 1]
                prev_rate = prev.burn_rate or 0.0
                share = (threshold - prev_rate) / (rate - prev_rate) if rate != prev_rate else 1.0
                interpolated = prev.load + share * (step.load - prev.load)
            crossing = Crossing(threshold, step.stage_index, step.load, interpolated)
            break
        crossings.append(crossing)
    return CapacityReport(slo, steps, sustainable, tuple(crossings))


def load_unit(steps: Sequence[CapacityStep]) -> str:
    """What a step's load counts: offered req/s when the shape set a rate, else users."""
    if any(s.rate_per_s is not None for s in steps):
        return "req/s"
    return "users" if any(s.users is not None for s in steps) else "stage"


def _stage(index: int | None) -> str:
    """Stages as people read them, from 1 (the records keep their 0-based index)."""
    return "-" if index is None or index < 0 else str(index + 1)


def crossing_lines(report: CapacityReport) -> list[str]:
    """Where the burn rate first exceeds each alert factor above 1, with the load."""
    unit = load_unit(report.steps)
    lines = []
    for c in report.crossings:
        if c.threshold == 1.0:
            continue
        if c.load is None:
            lines.append(f"- Burn rate {c.threshold:.4g}x: not crossed in this run")
            continue
        between = (
            f", about {c.interpolated_load:.4g} {unit} by interpolation"
            if c.interpolated_load is not None
            else " (already at the first step)"
        )
        lines.append(
            f"- Burn rate {c.threshold:.4g}x: crossed at stage {_stage(c.stage_index)} "
            f"(load {c.load:g} {unit}){between}"
        )
    return lines


def render_thresholds(reports: Sequence[CapacityReport]) -> str:
    """The alert factors' crossings per SLO: what `slo capacity FILE` adds after the one
    capacity report (loadtests.capacity), which already holds the SLI and burn table."""
    lines = ["### Load at which each alert's burn rate is crossed", ""]
    for report in reports:
        slo = report.slo
        lines += [f"{slo.name} (objective {slo.objective_ratio * 100:g}%):", ""]
        lines += crossing_lines(report) or ["- no alert factor above 1 in the policy"]
        lines.append("")
    return "\n".join(lines)


def render_markdown(reports: Sequence[CapacityReport], title: str) -> str:
    """The error budget's view of a load run from the ledger, which keeps no latency
    histograms or 429 counts: one table per SLO, then the crossings. Said so in the
    output: with the results file, `slo capacity FILE` prints the capacity verdict."""
    lines = [f"## Error budget per stage: {title}", ""]
    for report in reports:
        slo = report.slo
        unit = load_unit(report.steps)
        lines += [
            f"### {slo.name} (objective {slo.objective_ratio * 100:g}%)",
            "",
            "| stage | users | offered req/s | events | SLI | burn rate |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for s in report.steps:
            lines.append(
                f"| {_stage(s.stage_index)} | {_num(s.users)} | {_num(s.rate_per_s)} | "
                f"{s.counts.total:,.0f} | {_pct(s.sli_ratio)} | {_rate(s.burn_rate)} |"
            )
        lines.append("")
        if report.max_sustainable_load is None:
            lines.append(
                "- Highest load with burn rate <= 1: none (the first step already burns faster)"
            )
        else:
            lines.append(
                f"- Highest load with burn rate <= 1: {report.max_sustainable_load:g} {unit}"
            )
        lines += crossing_lines(report)
        lines += [
            "- The budget's view only, not a capacity: the ledger keeps no percentiles or "
            "429 counts; `slo capacity FILE` on the load results gives the capacity verdict",
            "",
        ]
    return "\n".join(lines)


def to_json(reports: Sequence[CapacityReport]) -> list[dict]:
    return [
        {
            "slo_name": r.slo.name,
            "goal": r.slo.objective_ratio,
            "steps": [
                {
                    "stage_index": s.stage_index,
                    "users": s.users,
                    "rate_per_s": s.rate_per_s,
                    "load": s.load,
                    "events_count": s.counts.total,
                    "good_events_count": s.counts.good,
                    "bad_events_count": s.counts.bad,
                    "sli_measurement": s.sli_ratio,
                    "error_budget_burn_rate": s.burn_rate,
                }
                for s in r.steps
            ],
            "max_sustainable_load": r.max_sustainable_load,
            "crossings": [
                {
                    "error_budget_burn_rate_threshold": c.threshold,
                    "stage_index": c.stage_index,
                    "load": c.load,
                    "interpolated_load": c.interpolated_load,
                }
                for c in r.crossings
            ],
        }
        for r in reports
    ]


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def _pct(value: float | None) -> str:
    return "no data" if value is None else f"{value:.3%}"


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"
