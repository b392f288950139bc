"""PNG charts of a report: budget burn-down over the window, burn rate per window.

Uses matplotlib's object API with the Agg canvas (no pyplot global state, no display),
and returns bytes: the caller decides where they go.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

from slo.durations import format_duration
from slo.model import Report


def _png(figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def burndown_png(report: Report) -> bytes:
    """Remaining error budget (%) through the current window, one line per SLO."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.6))
    figure.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.14)
    axes = figure.add_subplot()
    drawn = False
    for status in report.overall:
        if not status.burndown:
            continue
        # Days before the report, not dates: cheaper ticks, and what a reader compares.
        days = [(ts - report.generated_at) / 86400.0 for ts, _ in status.burndown]
        values = [remaining * 100 for _, remaining in status.burndown]
        axes.plot(days, values, label=f"{status.slo.name} ({status.slo.objective_ratio * 100:g}%)")
        drawn = True
    axes.axhline(0, color="#a40e26", linewidth=1, linestyle="--")
    axes.set_ylabel("error budget left (%)")
    axes.set_xlabel(
        f"days before {datetime.fromtimestamp(report.generated_at, UTC):%Y-%m-%d %H:%M} UTC"
    )
    axes.set_title(f"Error budget burn-down: {report.environment}")
    axes.grid(True, alpha=0.3)
    if drawn:
        axes.legend(loc="lower left", fontsize=8)
    else:
        axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes)
    return _png(figure)


def burn_rates_png(report: Report) -> bytes:
    """Burn rate per window, grouped by SLO, with each alert's factor at its long window."""
    from matplotlib.figure import Figure

    overall = report.overall
    windows = list(report.policy.burn_windows_seconds)
    highest = 1.0
    figure = Figure(figsize=(9, 3.6))
    figure.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.1)
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(overall))
    labels = [format_duration(w) for w in windows] + ["window"]
    for i, status in enumerate(overall):
        rates = [r for _, r in status.burn_rates] + [status.period_burn_rate]
        xs = [x + i * width - 0.4 + width / 2 for x in range(len(labels))]
        axes.bar(xs, [r or 0.0 for r in rates], width=width, label=status.slo.name)
        highest = max(highest, *(r or 0.0 for r in rates))
    if overall:
        for alert in overall[0].alerts:
            if alert.long_window_seconds in windows:
                x = windows.index(alert.long_window_seconds)
                axes.hlines(alert.threshold, x - 0.45, x + 0.45, colors="#a40e26", linewidth=1.5)
                highest = max(highest, alert.threshold)
    axes.axhline(1, color="#57606a", linewidth=1, linestyle="--")
    axes.set_xticks(range(len(labels)), labels)
    axes.set_yscale("symlog", linthresh=1)
    axes.set_ylim(0, highest * 2)
    axes.set_ylabel("burn rate (x)")
    axes.set_title("Burn rate per window (red: alert factor at its long window; dashed: 1x)")
    axes.grid(True, axis="y", alpha=0.3)
    if overall:
        axes.legend(fontsize=8)
    return _png(figure)


def charts(report: Report) -> dict[str, bytes]:
    return {"burndown": burndown_png(report), "burn-rates": burn_rates_png(report)}
