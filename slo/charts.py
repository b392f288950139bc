"""PNG charts of a report: budget burn-down, SLI and burn rates over time, per endpoint.

Drawn with Pillow rather than matplotlib: importing
matplotlib costs about a second of CPU, half the report's time budget, for two simple
charts. Drawn at twice the size and scaled down, for smooth lines. Returns bytes; the
caller decides where they go.
"""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from slo import timeline
from slo.durations import format_duration
from slo.model import OVERALL, Report, SloStatus

WIDTH, HEIGHT, SCALE = 900, 360, 2
# Tableau 10: ten endpoints get ten colours.
COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
    "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#d62728",
)  # fmt: skip
RED, GREY, INK, GRID = "#a40e26", "#57606a", "#1f2328", "#e1e4e8"
LEFT, RIGHT, TOP, BOTTOM = 70, 70, 40, 50
LEGEND_ROW, LEGEND_COLUMN = 18, 220


def colour(i: int) -> str:
    return COLOURS[i % len(COLOURS)]


class _Canvas:
    """A plot area with its legend below it, drawn at ``SCALE``x.

    The legend has its own strip under the axis so it can never hide a line; the
    canvas grows by as many legend rows as the items need.
    """

    def __init__(self, title: str, legend: int = 0) -> None:
        from PIL import Image, ImageDraw, ImageFont

        self.columns = max(1, (WIDTH - LEFT - RIGHT) // LEGEND_COLUMN)
        rows = -(-legend // self.columns)
        self.height = HEIGHT + rows * LEGEND_ROW + (8 if rows else 0)
        self.image = Image.new("RGB", (WIDTH * SCALE, self.height * SCALE), "white")
        self.draw = ImageDraw.Draw(self.image)
        try:
            self.font = ImageFont.load_default(size=12 * SCALE)
            self.title_font = ImageFont.load_default(size=14 * SCALE)
        except (TypeError, OSError):  # Pillow without FreeType: the bitmap font
            self.font = self.title_font = ImageFont.load_default()
        self.x0, self.x1 = LEFT * SCALE, (WIDTH - RIGHT) * SCALE
        self.y0, self.y1 = TOP * SCALE, (HEIGHT - BOTTOM) * SCALE
        self.text((WIDTH * SCALE) // 2, 12 * SCALE, title, anchor="mt", font=self.title_font)

    def text(self, x: float, y: float, text: str, anchor: str = "la", font=None, fill=INK) -> None:
        self.draw.text((x, y), text, fill=fill, font=font or self.font, anchor=anchor)

    def frame(self) -> None:
        self.draw.rectangle((self.x0, self.y0, self.x1, self.y1), outline=GREY, width=SCALE)

    def hline(self, y: float, colour: str, dashed: bool = False, x0=None, x1=None) -> None:
        x0 = self.x0 if x0 is None else x0
        x1 = self.x1 if x1 is None else x1
        self.polyline([(x0, y), (x1, y)], colour, dashed=dashed, width=2 if colour == RED else 1)

    def polyline(
        self, xy: Sequence[tuple[float, float]], colour: str, dashed: bool = False, width: int = 2
    ) -> None:
        """A line through the points; dashed lines keep their dash across the segments."""
        if len(xy) == 1:
            xy = [xy[0], (xy[0][0] + SCALE, xy[0][1])]
        if not dashed:
            self.draw.line(list(xy), fill=colour, width=width * SCALE, joint="curve")
            return
        dash, drawing, left = 8.0 * SCALE, True, 8.0 * SCALE
        for (ax, ay), (bx, by) in itertools.pairwise(xy):
            length = math.hypot(bx - ax, by - ay)
            done = 0.0
            while done < length - 1e-9:
                part = min(left, length - done)
                if drawing:
                    f0, f1 = done / length, (done + part) / length
                    self.draw.line(
                        (ax + (bx - ax) * f0, ay + (by - ay) * f0,
                         ax + (bx - ax) * f1, ay + (by - ay) * f1),
                        fill=colour, width=width * SCALE,
                    )  # fmt: skip
                done += part
                left -= part
                if left <= 1e-9:
                    drawing, left = not drawing, dash

    def legend(self, items: Sequence[tuple[str, str]]) -> None:
        """Items in columns under the x axis: outside the plot, so no line is hidden."""
        top = (HEIGHT - 8) * SCALE
        for k, (label, colour) in enumerate(items):
            x = self.x0 + (k % self.columns) * LEGEND_COLUMN * SCALE
            y = top + (k // self.columns) * LEGEND_ROW * SCALE
            self.draw.rectangle((x, y + 3 * SCALE, x + 14 * SCALE, y + 11 * SCALE), fill=colour)
            self.text(x + 20 * SCALE, y, label)

    def no_data(self) -> None:
        self.text((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2, "no data", "mm")

    def png(self) -> bytes:
        from PIL import Image

        small = self.image.resize((WIDTH, self.height), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        small.save(buffer, format="PNG", optimize=False)
        return buffer.getvalue()


def _ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round tick values covering ``[low, high]`` (1, 2, 5 x 10^n steps)."""
    span = max(high - low, 1e-9)
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


class _TimeAxis:
    """Seconds -> x pixel over ``[first, now]``, ticked in hours or days before ``now``."""

    def __init__(self, canvas: _Canvas, first: float, now: float) -> None:
        self.canvas, self.now = canvas, now
        self.first = min(first, now - 60)
        self.unit, self.name = (3600, "hours") if now - self.first <= 2 * 86400 else (86400, "days")

    def x(self, ts: float) -> float:
        c = self.canvas
        return c.x0 + (ts - self.first) / (self.now - self.first) * (c.x1 - c.x0)

    def draw(self) -> None:
        c = self.canvas
        span = (self.now - self.first) / self.unit
        for value in _ticks(-span, 0):
            x = self.x(self.now + value * self.unit)
            c.draw.line((x, c.y0, x, c.y1), fill=GRID, width=SCALE)
            c.text(x, c.y1 + 6 * SCALE, f"{value:g}", "mt")
        moment = datetime.fromtimestamp(self.now, UTC)
        c.text((c.x0 + c.x1) / 2, c.y1 + 24 * SCALE,
               f"{self.name} before {moment:%Y-%m-%d %H:%M} UTC", "mt")  # fmt: skip


def _y_linear(canvas: _Canvas, low: float, high: float) -> Callable[[float], float]:
    def py(value: float) -> float:
        return canvas.y1 - (value - low) / (high - low) * (canvas.y1 - canvas.y0)

    return py


def _y_burn(canvas: _Canvas, highest: float) -> tuple[Callable[[float], float], list[float]]:
    """A log(1 + x) scale for burn rates (0 has a place), and its ticks."""
    top = math.log10(1 + highest) * 1.15

    def py(rate: float) -> float:
        return canvas.y1 - math.log10(1 + max(rate, 0.0)) / top * (canvas.y1 - canvas.y0)

    ticks = [0.0, 1.0] + [10.0**k for k in range(1, int(math.log10(max(highest, 1))) + 2)]
    return py, [t for t in ticks if math.log10(1 + t) <= top]


def _first(statuses: Sequence[SloStatus], now: float) -> float:
    starts = [s.burndown[0][0] for s in statuses if s.burndown]
    return min(starts, default=now - 86400)


def _burndown(
    title: str, statuses: Sequence[SloStatus], labels: Sequence[str], now: float
) -> bytes:
    """Budget left over time, one line per status, each with its ideal-burn line dashed."""
    shown = [(s, label) for s, label in zip(statuses, labels, strict=True) if s.burndown]
    canvas = _Canvas(title, legend=len(shown) + 1 if shown else 0)
    values = [v * 100 for s, _ in shown for _, v in s.burndown]
    low, high = min([0.0, *values]), max([100.0, *values])
    pad = (high - low) * 0.05
    py = _y_linear(canvas, low - pad, high + pad)
    axis = _TimeAxis(canvas, _first(statuses, now), now)
    _grid(canvas, _ticks(low - pad, high + pad), py, lambda v: f"{v:g}%")
    axis.draw()
    canvas.hline(py(0), RED, dashed=True)
    legend = []
    for first in sorted({s.burndown[0][0] for s, _ in shown}):  # statuses share most starts
        ideal = timeline.ideal_burndown(first, now)
        canvas.polyline([(axis.x(t), py(v * 100)) for t, v in ideal], GREY, dashed=True, width=1)
    for i, (status, label) in enumerate(shown):
        canvas.polyline([(axis.x(t), py(v * 100)) for t, v in status.burndown], colour(i))
        legend.append((label, colour(i)))
    if legend:
        canvas.legend([*legend, ("grey dashed: spent at burn rate 1 (ideal)", GREY)])
    else:
        canvas.no_data()
    canvas.frame()
    return canvas.png()


def burndown_png(report: Report) -> bytes:
    """Remaining error budget (%) since the first data, one line per SLO, with the ideal."""
    overall = report.overall
    return _burndown(
        f"Error budget left through the window: {report.environment}",
        overall,
        [f"{s.slo.name} ({s.slo.objective_ratio * 100:g}%)" for s in overall],
        report.generated_at,
    )


def endpoints_png(report: Report, slo: str) -> bytes:
    """One SLO's budget left per endpoint (each against its own events)."""
    statuses = [s for s in report.statuses if s.slo.name == slo and s.endpoint != OVERALL]
    return _burndown(
        f"{slo}: error budget left per endpoint", statuses,
        [s.endpoint for s in statuses], report.generated_at,
    )  # fmt: skip


def sli_png(status: SloStatus, now: float) -> bytes:
    """SLI per step (left axis) and error rate (right axis), with the objective in red."""
    slo = status.slo
    canvas = _Canvas(f"{slo.name}: SLI and error rate over time (red: objective)", legend=1)
    points = timeline.sli_points(timeline.with_data(status.series), status.series_step)
    values = [v * 100 for _, v in points]
    objective = slo.objective_ratio * 100
    low = min([objective - 2 * (100 - objective), *values])
    low = max(0.0, low - (100 - low) * 0.05)
    high = 100 + (100 - low) * 0.05
    py = _y_linear(canvas, low, high)
    first = points[0][0] - status.series_step if points else now - 86400
    axis = _TimeAxis(canvas, first, now)
    ticks = [t for t in _ticks(low, 100) if t <= 100]
    _grid(canvas, ticks, py, lambda v: f"{v:.4g}%")
    for value in ticks:  # the right axis: the same lines read as error rate
        canvas.text(canvas.x1 + 6 * SCALE, py(value), f"{100 - value:.4g}%", "lm")
    axis.draw()
    canvas.hline(py(objective), RED, dashed=True)
    if points:
        canvas.polyline([(axis.x(t), py(v * 100)) for t, v in points], colour(0))
        canvas.legend([(f"SLI per {format_duration(status.series_step)} (right: error rate)",
                        colour(0))])  # fmt: skip
    else:
        canvas.no_data()
    canvas.frame()
    return canvas.png()


def burn_over_time_png(status: SloStatus, now: float) -> bytes:
    """Each alert's long-window burn rate over time, with its threshold dashed."""
    slo = status.slo
    alerts = {(a.long_window_seconds, a.threshold, a.severity) for a in status.alerts}
    lines = []
    for window, threshold, severity in sorted(alerts):
        points = timeline.rolling_burn(
            status.series, status.series_step, window, slo.budget_ratio, now
        )
        lines.append((f"{format_duration(window)} ({severity}, {threshold:.4g}x)", threshold,
                      points))  # fmt: skip
    canvas = _Canvas(f"{slo.name}: burn rate over time per alert window (dashed: its threshold)",
                     legend=len(lines))  # fmt: skip
    highest = max([1.0, *(t for _, t, _ in lines), *(v for *_, p in lines for _, v in p)])
    py, ticks = _y_burn(canvas, highest)
    starts = [p[0][0] for *_, p in lines if p]
    axis = _TimeAxis(canvas, min(starts, default=now - 86400), now)
    _grid(canvas, ticks, py, lambda v: f"{v:g}x")
    axis.draw()
    for i, (_, threshold, points) in enumerate(lines):
        canvas.hline(py(threshold), colour(i), dashed=True)
        if points:
            canvas.polyline([(axis.x(t), py(v)) for t, v in points], colour(i))
    if not any(p for *_, p in lines):
        canvas.no_data()
    canvas.legend([(label, colour(i)) for i, (label, _, _) in enumerate(lines)])
    canvas.frame()
    return canvas.png()


def burn_rates_png(report: Report) -> bytes:
    """Burn rate per window now (log scale), by SLO, with each alert's factor at its window."""
    overall = report.overall
    canvas = _Canvas("Burn rate per window now (red: alert factor; dashed: 1x)", len(overall))
    windows = list(report.policy.burn_windows_seconds)
    labels = [format_duration(w) for w in windows] + ["window"]
    rates = [[r for _, r in s.burn_rates] + [s.period_burn_rate] for s in overall]
    thresholds = [
        (windows.index(a.long_window_seconds), a.threshold)
        for a in (overall[0].alerts if overall else ())
        if a.long_window_seconds in windows
    ]
    highest = max([1.0, *(r or 0.0 for row in rates for r in row), *(t for _, t in thresholds)])
    py, ticks = _y_burn(canvas, highest)
    slot = (canvas.x1 - canvas.x0) / len(labels)
    _grid(canvas, ticks, py, lambda v: f"{v:g}x")
    width = slot * 0.8 / max(1, len(overall))
    for i, row in enumerate(rates):
        for j, value in enumerate(row):
            left = canvas.x0 + j * slot + slot * 0.1 + i * width
            if value:
                canvas.draw.rectangle(
                    (left, py(value), left + width - SCALE, canvas.y1), fill=colour(i)
                )
    for j, threshold in thresholds:
        left = canvas.x0 + j * slot
        canvas.hline(py(threshold), RED, x0=left + slot * 0.05, x1=left + slot * 0.95)
    canvas.hline(py(1.0), GREY, dashed=True)
    for j, label in enumerate(labels):
        canvas.text(canvas.x0 + (j + 0.5) * slot, canvas.y1 + 6 * SCALE, label, "mt")
    canvas.legend([(s.slo.name, colour(i)) for i, s in enumerate(overall)])
    canvas.frame()
    return canvas.png()


def slug(name: str) -> str:
    """An SLO name as a file-name part (``slo-sli-<slug>.png``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "slo"


def _grid(
    canvas: _Canvas,
    yticks: Sequence[float],
    py: Callable[[float], float],
    ylabel: Callable[[float], str],
) -> None:
    """Horizontal grid lines with their labels (time axes draw their own verticals)."""
    for value in yticks:
        y = py(value)
        canvas.draw.line((canvas.x0, y, canvas.x1, y), fill=GRID, width=SCALE)
        canvas.text(canvas.x0 - 6 * SCALE, y, ylabel(value), "rm")


def charts(report: Report) -> dict[str, bytes]:
    """Every chart of a report by name: the file is ``slo-<name>.png``."""
    now = report.generated_at
    out = {"burndown": burndown_png(report), "burn-rates": burn_rates_png(report)}
    for status in report.overall:
        name = slug(status.slo.name)
        out[f"sli-{name}"] = sli_png(status, now)
        out[f"burn-over-time-{name}"] = burn_over_time_png(status, now)
        if any(s.slo.name == status.slo.name and s.endpoint != OVERALL for s in report.statuses):
            out[f"endpoints-{name}"] = endpoints_png(report, status.slo.name)
    return out
