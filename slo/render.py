"""Report -> Markdown, JSON and HTML text. Pure: charts come in as PNG bytes.

Markdown is written for two readers at once: a GitLab job log (plain text, so tables stay
narrow and the verdict is the first line) and a merge-request note (rendered, with the
per-endpoint tables folded in ``<details>``).
JSON uses slo-generator's field names where they mean the same thing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, select_autoescape

from slo.charts import slug as chart_slug
from slo.durations import format_duration
from slo.evaluate import worst_state
from slo.html import REPORT_TEMPLATE
from slo.model import OVERALL, AlertState, Report, SloStatus, State

JSON_SCHEMA = "spacetime-probes/slo-report/1"


# ----------------------------------------------------------------------------- formatting


def human_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def pct(value: float | None, digits: int = 3) -> str:
    return "no data" if value is None else f"{value * 100:.{digits}f}%"


def rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"


def span(seconds: float | None) -> str:
    """Time to exhaustion in words a human scans: ``13d 2h``, ``45m``, ``now``, ``–``."""
    if seconds is None:
        return "–"
    if seconds <= 0:
        return "now"
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins}m"
    return f"{max(mins, 1)}m"


def objective(status: SloStatus) -> str:
    text = f"{status.slo.objective_ratio * 100:g}%"
    if status.slo.threshold_ms is not None:
        text += f" ≤ {status.slo.threshold_ms:g} ms"
    return text


def sli_text(status: SloStatus) -> str:
    if status.sli_ratio is None:
        return "no data"
    text = pct(status.sli_ratio)
    if status.sli_interval is not None:
        low, high = status.sli_interval
        text += f" ({low * 100:.3f}–{high * 100:.3f}%)"
    return text


def budget_text(status: SloStatus) -> str:
    """Budget left; below the minimum event count it is not claimed (no data is not good)."""
    if status.remaining_ratio is None or status.remaining_minutes is None:
        return "no data"
    if status.state is State.NO_DATA:
        return f"no data ({status.counts.total:,.0f} < {status.slo.min_events} events)"
    return (
        f"{status.remaining_ratio * 100:.1f}% ({status.remaining_minutes:.1f} of "
        f"{status.budget_minutes:.1f} min)"
    )


def alert_status(alert: AlertState) -> str:
    if alert.firing:
        return "FIRING"
    return "ok" if alert.enough_data else "not enough data"


def headline(status: SloStatus) -> str:
    """Why an SLO is in its state, in one line."""
    slo = status.slo
    if status.state is State.NO_DATA:
        return (
            f"no data: {status.counts.total:g} events in "
            f"{format_duration(slo.period_seconds)}, at least {slo.min_events} needed"
        )
    if status.state is State.EXHAUSTED:
        return f"error budget exhausted: {budget_text(status)}"
    for alert in status.alerts:
        if alert.firing:
            return (
                f"{alert.severity}: burn {rate(alert.long_burn_rate)} over "
                f"{format_duration(alert.long_window_seconds)} and "
                f"{rate(alert.short_burn_rate)} over {format_duration(alert.short_window_seconds)} "
                f"> {alert.threshold:.4g}x"
            )
    return f"ok: {budget_text(status)} of the error budget left"


# ----------------------------------------------------------------------------- Markdown


def to_markdown(report: Report) -> str:
    overall = report.overall
    state = worst_state(report.statuses)
    windows = report.policy.burn_windows_seconds
    period = overall[0].slo.period_seconds if overall else None
    lines = [
        f"## SLO report: {report.environment}: {state.value.upper()}",
        "",
        f"Generated {human_time(report.generated_at)} from {report.source}; spec "
        f"`{report.spec_origin}`"
        + (f"; rolling {format_duration(period)} window." if period else "."),
        "",
    ]
    lines += [f"- **{s.slo.name}**: {headline(s)}" for s in overall]
    lines += [
        "",
        "| SLO | objective | SLI (95% interval) | events | budget left "
        "| exhaustion at 1h burn | state |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for s in overall:
        lines.append(
            f"| {s.slo.name} | {objective(s)} | {sli_text(s)} | {s.counts.total:,.0f} | "
            f"{budget_text(s)} | {span(s.time_to_exhaustion_seconds)} | {s.state.value} |"
        )
    header = " | ".join(format_duration(w) for w in windows)
    lines += [
        "",
        "### Burn rates",
        "",
        f"| SLO | {header} | whole window |",
        "|---|" + "---:|" * (len(windows) + 1),
    ]
    for s in overall:
        cells = " | ".join(rate(r) for _, r in s.burn_rates)
        lines.append(f"| {s.slo.name} | {cells} | {rate(s.period_burn_rate)} |")
    lines += [
        "",
        "### Multi-window alerts",
        "",
        "| SLO | severity | long / short window | threshold | long burn | short burn | status |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for s in overall:
        for a in s.alerts:
            lines.append(
                f"| {s.slo.name} | {a.severity} | {format_duration(a.long_window_seconds)} / "
                f"{format_duration(a.short_window_seconds)} | {a.threshold:.4g}x | "
                f"{rate(a.long_burn_rate)} | {rate(a.short_burn_rate)} | {alert_status(a)} |"
            )
    for s in overall:
        endpoints = [
            e for e in report.statuses if e.slo.name == s.slo.name and e.endpoint != OVERALL
        ]
        if not endpoints:
            continue
        lines += [
            "",
            f"<details><summary>{s.slo.name} per endpoint ({len(endpoints)})</summary>",
            "",
            "| endpoint | SLI (95% interval) | events | budget left | burn 1h | burn 1d "
            "| whole window | state |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for e in endpoints:
            by_window = dict(e.burn_rates)
            lines.append(
                f"| `{e.endpoint}` | {sli_text(e)} | {e.counts.total:,.0f} | {budget_text(e)} | "
                f"{rate(by_window.get(3600))} | {rate(by_window.get(86400))} | "
                f"{rate(e.period_burn_rate)} | {e.state.value} |"
            )
        lines += ["", "</details>"]
    if report.probes:
        lines += probe_section(report)
    notes = list(report.notes)
    for slo_name, counts in report.excluded_load:
        notes.append(
            f"{slo_name}: {counts.total:,.0f} load-test events in this window are not counted "
            "(see `slo capacity`)"
        )
    if notes:
        lines += ["", "### Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def probe_section(report: Report) -> list[str]:
    """Probes by family, the failing ones in full, every probe folded away."""
    probes = report.probes
    failing = [p for p in probes if p.last_outcome in ("failed", "error")]
    lines = [
        "",
        f"### Probes: {len(probes)} known, {len(failing)} failing on their last run",
        "",
        "| family | probes | passed | failed | error | skipped |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    families: dict[str, list[int]] = {}
    for p in probes:
        row = families.setdefault(p.family or "(none)", [0, 0, 0, 0, 0])
        row[0] += 1
        row[1 + ("passed", "failed", "error", "skipped").index(p.last_outcome)] += 1
    for family, (n, passed, failed, error, skipped) in sorted(families.items()):
        lines.append(f"| {family} | {n} | {passed} | {failed} | {error} | {skipped} |")

    def table(rows: list) -> list[str]:
        out = [
            "| probe | family | endpoint | last | passed / failed / error / skipped | reason |",
            "|---|---|---|---|---:|---|",
        ]
        for p in rows:
            where = f"{p.method or ''} {p.endpoint or ''}".strip() or "–"
            reason = (p.reason or "").replace("|", "\\|")[:160]
            out.append(
                f"| `{p.probe}` | {p.family} | {where} | {p.last_outcome} | "
                f"{p.passed} / {p.failed} / {p.errors} / {p.skipped} | {reason} |"
            )
        return out

    if failing:
        lines += ["", "Failing:", "", *table(failing)]
    lines += [
        "",
        f"<details><summary>all {len(probes)} probes</summary>",
        "",
        *table(sorted(probes, key=lambda p: (p.family, p.probe))),
        "",
        "</details>",
    ]
    return lines


# ----------------------------------------------------------------------------- JSON


def status_to_json(s: SloStatus) -> dict[str, Any]:
    """One SLO (and endpoint) with slo-generator's names for the shared quantities."""
    slo = s.slo
    sli = s.sli_ratio
    return {
        "name": f"{slo.service}-{slo.name}",
        "slo_name": slo.name,
        "service_name": slo.service,
        "description": slo.description,
        "endpoint": s.endpoint or None,
        "sli_kind": slo.sli.value,
        "threshold_ms": slo.threshold_ms,
        "goal": slo.objective_ratio,
        "window": slo.period_seconds,
        "budgeting_method": slo.budgeting.value,
        "timeslice_window": slo.timeslice_seconds,
        "state": s.state.value,
        "valid": s.state is not State.NO_DATA,
        "alert": any(a.firing for a in s.alerts),
        "good_events_count": s.counts.good,
        "bad_events_count": s.counts.bad,
        "events_count": s.counts.total,
        "min_events_count": slo.min_events,
        "sli_measurement": sli,
        "sli_interval": None
        if s.sli_interval is None
        else {"low": s.sli_interval[0], "high": s.sli_interval[1]},
        "gap": None if sli is None else sli - slo.objective_ratio,
        "error_budget_target": slo.budget_ratio,
        "error_budget_measurement": None if sli is None else 1.0 - sli,
        "error_budget_burn_rate": s.period_burn_rate,
        "error_budget_consumed_ratio": s.consumed_ratio,
        "error_budget_remaining_ratio": s.remaining_ratio,
        "error_budget_minutes": s.budget_minutes,
        "error_budget_remaining_minutes": s.remaining_minutes,
        "error_minutes": s.consumed_minutes,
        "time_to_exhaustion_minutes": None
        if s.time_to_exhaustion_seconds is None
        else s.time_to_exhaustion_seconds / 60.0,
        "burn_rates": {format_duration(w): r for w, r in s.burn_rates},
        "alerts": [
            {
                "error_budget_policy_step_name": f"{a.severity}-"
                f"{format_duration(a.long_window_seconds)}-{format_duration(a.short_window_seconds)}",
                "severity": a.severity,
                "budget_fraction": a.budget_fraction,
                "long_window": a.long_window_seconds,
                "short_window": a.short_window_seconds,
                "error_budget_burn_rate_threshold": a.threshold,
                "long_window_burn_rate": a.long_burn_rate,
                "short_window_burn_rate": a.short_burn_rate,
                "enough_data": a.enough_data,
                "alert": a.firing,
            }
            for a in s.alerts
        ],
        "burndown": [[ts, remaining] for ts, remaining in s.burndown],
    }


def to_json_dict(report: Report) -> dict[str, Any]:
    return {
        "schema": JSON_SCHEMA,
        "timestamp": report.generated_at,
        "timestamp_human": human_time(report.generated_at),
        "environment": report.environment,
        "source": report.source,
        "spec": report.spec_origin,
        "state": worst_state(report.statuses).value,
        "slos": [status_to_json(s) for s in report.statuses],
        "probes": [
            {
                "probe": p.probe,
                "family": p.family,
                "endpoint": p.endpoint,
                "method": p.method,
                "last_outcome": p.last_outcome,
                "last_timestamp": p.last_ts,
                "reason": p.reason,
                "passed": p.passed,
                "failed": p.failed,
                "error": p.errors,
                "skipped": p.skipped,
            }
            for p in report.probes
        ],
        "excluded_load_events": {name: c.total for name, c in report.excluded_load},
        "notes": list(report.notes),
    }


def to_json(report: Report) -> str:
    return json.dumps(to_json_dict(report), indent=2, allow_nan=False) + "\n"


# ----------------------------------------------------------------------------- HTML


_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_ENV.filters.update(pct=pct, rate=rate, span=span, duration=format_duration, human_time=human_time)


def to_html(report: Report, charts: Mapping[str, bytes]) -> str:
    """One self-contained file: inline CSS, charts as ``data:`` PNGs, no external fetches."""
    images = {name: base64.b64encode(data).decode("ascii") for name, data in charts.items()}
    overall = report.overall
    endpoints = {
        s.slo.name: [
            e for e in report.statuses if e.slo.name == s.slo.name and e.endpoint != OVERALL
        ]
        for s in overall
    }
    return _ENV.from_string(REPORT_TEMPLATE).render(
        report=report,
        state=worst_state(report.statuses).value,
        overall=overall,
        endpoints=endpoints,
        images=images,
        headline=headline,
        objective=objective,
        sli_text=sli_text,
        budget_text=budget_text,
        alert_status=alert_status,
        windows=report.policy.burn_windows_seconds,
        slug=chart_slug,
    )
