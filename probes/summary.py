"""The end-of-run summary printed under pytest's own: pure, from outcome records."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from probes.outcomes import INCONCLUSIVE_PREFIX, UNAVAILABLE_PREFIXES
from probes.profile import Profile
from probes.target import Target

MAX_LISTED = 10


def family_table(outcomes: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for record in outcomes:
        table[record["family"]][record["outcome"]] += 1
    return {family: dict(counts) for family, counts in sorted(table.items())}


def failing_families(outcomes: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({r["family"] for r in outcomes if r["outcome"] in {"failed", "error"}})


def unavailable(outcomes: Iterable[dict[str, Any]]) -> tuple[str, int] | None:
    """The outage or lockout the circuit breaker found, and how many probes it failed."""
    reasons = [
        str(r["reason"])
        for r in outcomes
        if r["outcome"] in {"failed", "error"}
        and str(r.get("reason") or "").startswith(UNAVAILABLE_PREFIXES)
    ]
    if not reasons:
        return None
    return reasons[0], len(reasons)


def render_summary(
    outcomes: Sequence[dict[str, Any]], profile: Profile, target: Target, results: Path
) -> list[str]:
    kind = "embedded reference server" if target.embedded else "external target"
    lines = [
        "",
        f"spacetime-probes: {target.base_url} "
        f"({profile.environment}, profile {profile.name}, {kind})",
        f"  results: {results}",
    ]
    for family, counts in family_table(outcomes).items():
        parts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        lines.append(f"  {family:<12} {parts}")
    failing = failing_families(outcomes)
    lines.append(f"  failing families: {', '.join(failing) if failing else 'none'}")
    outage = unavailable(outcomes)
    if outage is not None:
        reason, count = outage
        lines.append(f"  {reason} ({count} probes failed fast, nothing sent)")
    failed = [
        r
        for r in outcomes
        if r["outcome"] in {"failed", "error"}
        and not str(r.get("reason") or "").startswith(UNAVAILABLE_PREFIXES)
    ]
    if failed:
        # Whole, unlike pytest's short summary, which cuts each reason at the terminal's width.
        lines.append(f"  failures: {len(failed)}")
        for record in failed[:MAX_LISTED]:
            lines.append(f"    {record['probe']}: {record.get('reason') or record['outcome']}")
        if len(failed) > MAX_LISTED:
            lines.append(f"    (+{len(failed) - MAX_LISTED} more in the results file)")
    undecided = [r for r in outcomes if r.get("verdict") == "inconclusive"]
    if undecided:
        lines.append(f"  inconclusive (the probe's limit, not a failure): {len(undecided)}")
        for record in undecided[:MAX_LISTED]:
            reason = str(record.get("reason") or "").removeprefix(INCONCLUSIVE_PREFIX)
            lines.append(f"    {record['probe']}: {reason}")
        if len(undecided) > MAX_LISTED:
            lines.append(f"    (+{len(undecided) - MAX_LISTED} more in the results file)")
    latency = [r for r in outcomes if r["family"] == "latency" and r.get("measured")]
    if latency:
        sla = profile.sla
        lines.append(f"  latency (SLA p{sla.percentile:g} <= {sla.threshold_ms:g} ms), ms:")
        lines.append(
            f"    {'endpoint':<24}{'n':>5}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}  verdict"
        )
        for record in sorted(
            latency, key=lambda r: (r.get("endpoint") or "", r.get("method") or "")
        ):
            m = record["measured"]
            name = f"{record.get('method')} {record.get('endpoint')}"
            lines.append(
                f"    {name:<24}{m['samples']:>5}{m['p50_ms']:>8.1f}{m['p95_ms']:>8.1f}"
                f"{m['p99_ms']:>8.1f}{m['max_ms']:>8.1f}  {m['verdict']}"
            )
    traversal = [r for r in outcomes if r["family"] == "traversal" and r.get("measured")]
    failed_categories: dict[str, list[str]] = defaultdict(list)
    for record in traversal:
        m = record["measured"]
        if m.get("failed_examples"):
            failed_categories[m["category"]].append(m["method"])
    if traversal:
        shown = ", ".join(
            f"{c} ({'/'.join(sorted(ms))})" for c, ms in sorted(failed_categories.items())
        )
        lines.append(f"  traversal categories failed: {shown or 'none'}")
    return lines
