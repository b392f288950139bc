"""PNG charts of a report: budget burn-down over the window, burn rate per window.

Drawn with Pillow rather than matplotlib: importing
matplotlib costs about a second of CPU, half the report's time budget, for two simple
charts. Drawn at twice the size and scaled down, for smooth lines. Returns bytes; the
caller decides where they go.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from slo.durations import format_duration
from slo.model import Report

WIDTH, HEIGHT, SCALE = 900, 360, 2
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
RED, GREY, INK, GRID = "#a40e26", "#57606a", "#1f2328", "#e1e4e8"
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 50


class _Canvas:
    """A plot area with data -> pixel transforms, drawn at ``SCALE``x."""

    def __init__(self, title: str) -> None:
        from PIL import Image, ImageDraw, ImageFont

        self.image = Image.new("RGB", (WIDTH * SCALE, HEIGHT * SCALE), "white")
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
        if not dashed:
            self.draw.line((x0, y, x1, y), fill=colour, width=SCALE * 2 if colour == RED else SCALE)
            return
        dash = 8 * SCALE
        x = x0
        while x < x1:
            self.draw.line((x, y, min(x + dash, x1), y), fill=colour, width=SCALE)
            x += 2 * dash

    def legend(self, items: Sequence[tuple[str, str]], bottom: bool = False) -> None:
        height = (16 * len(items) + 8) * SCALE
        y = self.y1 - height if bottom else self.y0 + 6 * SCALE
        widest = max(self.draw.textlength(label, font=self.font) for label, _ in items)
        self.draw.rectangle(
            (
                self.x0 + 4 * SCALE,
                y - 2 * SCALE,
                self.x0 + 30 * SCALE + widest,
                y + height - 8 * SCALE,
            ),
            fill="white",
            outline=GRID,
        )
        for label, colour in items:
            x = self.x0 + 10 * SCALE
            self.draw.rectangle((x, y + 3 * SCALE, x + 14 * SCALE, y + 11 * SCALE), fill=colour)
            self.text(x + 20 * SCALE, y, label)
            y += 16 * SCALE

    def png(self) -> bytes:
        from PIL import Image

        small = self.image.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)
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


def burndown_png(report: Report) -> bytes:
    """Remaining error budget (%) through the current window, one line per SLO."""
    canvas = _Canvas(f"Error budget left through the window: {report.environment}")
    series = [(s, s.burndown) for s in report.overall if s.burndown]
    days = max((s.slo.period_seconds for s in report.overall), default=86400) / 86400
    values = [v * 100 for _, points in series for _, v in points]
    low = min([0.0, *values])
    high = max([100.0, *values])
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad

    def px(day: float) -> float:
        return canvas.x0 + (day + days) / days * (canvas.x1 - canvas.x0)

    def py(value: float) -> float:
        return canvas.y1 - (value - low) / (high - low) * (canvas.y1 - canvas.y0)

    _grid(canvas, _ticks(low, high), py, lambda v: f"{v:g}%", _ticks(-days, 0), px)
    canvas.hline(py(0), RED, dashed=True)
    legend = []
    for i, (status, points) in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        xy = [(px((ts - report.generated_at) / 86400), py(v * 100)) for ts, v in points]
        if len(xy) == 1:
            xy.append(xy[0])
        canvas.draw.line(xy, fill=colour, width=2 * SCALE, joint="curve")
        legend.append((f"{status.slo.name} ({status.slo.objective_ratio * 100:g}%)", colour))
    if legend:
        canvas.legend(legend, bottom=True)
    else:
        canvas.text((canvas.x0 + canvas.x1) / 2, (canvas.y0 + canvas.y1) / 2, "no data", "mm")
    canvas.frame()
    moment = datetime.fromtimestamp(report.generated_at, UTC)
    canvas.text((canvas.x0 + canvas.x1) / 2, canvas.y1 + 24 * SCALE,
                f"days before {moment:%Y-%m-%d %H:%M} UTC", "mt")  # fmt: skip
    return canvas.png()


def burn_rates_png(report: Report) -> bytes:
    """Burn rate per window (log scale), by SLO, with each alert's factor at its window."""
    canvas = _Canvas("Burn rate per window (red: alert factor; dashed: 1x)")
    overall = report.overall
    windows = list(report.policy.burn_windows_seconds)
    labels = [format_duration(w) for w in windows] + ["window"]
    rates = [[r for _, r in s.burn_rates] + [s.period_burn_rate] for s in overall]
    thresholds = [
        (windows.index(a.long_window_seconds), a.threshold)
        for a in (overall[0].alerts if overall else ())
        if a.long_window_seconds in windows
    ]
    highest = max([1.0, *(r or 0.0 for row in rates for r in row), *(t for _, t in thresholds)])
    top = math.log10(1 + highest) * 1.15

    def py(rate: float) -> float:
        return canvas.y1 - math.log10(1 + max(rate, 0.0)) / top * (canvas.y1 - canvas.y0)

    ticks = [0.0, 1.0] + [10.0**k for k in range(1, int(math.log10(highest)) + 2)]
    ticks = [t for t in ticks if math.log10(1 + t) <= top]
    slot = (canvas.x1 - canvas.x0) / len(labels)
    _grid(canvas, ticks, py, lambda v: f"{v:g}x", [], None)
    width = slot * 0.8 / max(1, len(overall))
    for i, row in enumerate(rates):
        colour = COLOURS[i % len(COLOURS)]
        for j, rate in enumerate(row):
            left = canvas.x0 + j * slot + slot * 0.1 + i * width
            if rate:
                canvas.draw.rectangle(
                    (left, py(rate), left + width - SCALE, canvas.y1), fill=colour
                )
    for j, threshold in thresholds:
        left = canvas.x0 + j * slot
        canvas.hline(py(threshold), RED, x0=left + slot * 0.05, x1=left + slot * 0.95)
    canvas.hline(py(1.0), GREY, dashed=True)
    for j, label in enumerate(labels):
        canvas.text(canvas.x0 + (j + 0.5) * slot, canvas.y1 + 6 * SCALE, label, "mt")
    canvas.legend([(s.slo.name, COLOURS[i % len(COLOURS)]) for i, s in enumerate(overall)])
    canvas.frame()
    return canvas.png()


def _grid(
    canvas: _Canvas,
    yticks: Sequence[float],
    py: Callable[[float], float],
    ylabel: Callable[[float], str],
    xticks: Sequence[float],
    px: Callable[[float], float] | None,
) -> None:
    for value in yticks:
        y = py(value)
        canvas.draw.line((canvas.x0, y, canvas.x1, y), fill=GRID, width=SCALE)
        canvas.text(canvas.x0 - 6 * SCALE, y, ylabel(value), "rm")
    if px is None:
        return
    for value in xticks:
        x = px(value)
        canvas.draw.line((x, canvas.y0, x, canvas.y1), fill=GRID, width=SCALE)
        canvas.text(x, canvas.y1 + 6 * SCALE, f"{value:g}", "mt")


def charts(report: Report) -> dict[str, bytes]:
    return {"burndown": burndown_png(report), "burn-rates": burn_rates_png(report)}
