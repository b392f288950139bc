"""Policy as data: multi-window alert states, SLO states and the deploy gate. Pure.

The default policy is the SRE Workbook's: page when 2% of the budget goes in 1h (with a 5m
short window) or 5% in 6h (30m); ticket when 10% goes in 1d (2h) or 10% in 3d (6h).
Factors are derived from each SLO's period: ``budget_fraction * period / long_window``,
which gives the familiar 14.4/6/3/1 only for a 30-day period (28 days: 13.44/5.6/2.8/0.93).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from slo.budget import burn_rate
from slo.durations import format_duration
from slo.model import (
    OVERALL,
    AlertState,
    AlertWindow,
    Counts,
    GatePolicy,
    Policy,
    Slo,
    SloStatus,
    State,
    Verdict,
)

DEFAULT_ALERTS: tuple[AlertWindow, ...] = (
    AlertWindow("page", 0.02, 3600, 300),
    AlertWindow("page", 0.05, 6 * 3600, 1800),
    AlertWindow("ticket", 0.10, 86400, 2 * 3600),
    AlertWindow("ticket", 0.10, 3 * 86400, 6 * 3600),
)
DEFAULT_BURN_WINDOWS: tuple[int, ...] = (300, 1800, 3600, 7200, 21600, 86400, 259200)
DEFAULT_POLICY = Policy(alerts=DEFAULT_ALERTS, burn_windows_seconds=DEFAULT_BURN_WINDOWS)

EXIT_GO = 0
EXIT_FREEZE = 1
EXIT_NO_DATA = 2
NO_DATA_ACTIONS = ("error", "go", "freeze")


def needed_windows(policy: Policy, period_seconds: int) -> tuple[int, ...]:
    """Every window a source must count for one SLO: burn windows, alert windows, period."""
    windows = set(policy.burn_windows_seconds)
    for alert in policy.alerts:
        windows.update((alert.long_window_seconds, alert.short_window_seconds))
    windows.add(policy.exhaustion_window_seconds)
    windows.add(period_seconds)
    return tuple(sorted(windows))


def evaluate_alerts(
    slo: Slo, windows: Mapping[int, Counts], alerts: Iterable[AlertWindow]
) -> tuple[AlertState, ...]:
    """Evaluate each policy line: firing when both windows burn faster than the factor.

    The long window must hold ``slo.min_events`` events and the short one at least one,
    otherwise the line is not firing and says so (``enough_data=False``): a quiet hour
    neither pages nor reassures.
    """
    states = []
    for alert in alerts:
        long_counts = windows.get(alert.long_window_seconds, Counts())
        short_counts = windows.get(alert.short_window_seconds, Counts())
        threshold = alert.factor(slo.period_seconds)
        long_rate = burn_rate(long_counts, slo.budget_ratio)
        short_rate = burn_rate(short_counts, slo.budget_ratio)
        enough = long_counts.total >= slo.min_events and short_counts.total > 0
        firing = (
            enough
            and long_rate is not None
            and short_rate is not None
            and long_rate > threshold
            and short_rate > threshold
        )
        states.append(
            AlertState(
                severity=alert.severity,
                budget_fraction=alert.budget_fraction,
                long_window_seconds=alert.long_window_seconds,
                short_window_seconds=alert.short_window_seconds,
                threshold=threshold,
                long_burn_rate=long_rate,
                short_burn_rate=short_rate,
                enough_data=enough,
                firing=firing,
            )
        )
    return tuple(states)


def slo_state(
    period_counts: Counts,
    min_events: int,
    remaining: float | None,
    alerts: Iterable[AlertState],
) -> State:
    """No data first (never good), then exhausted, then the first firing severity, else ok."""
    if period_counts.total <= 0 or period_counts.total < min_events or remaining is None:
        return State.NO_DATA
    if remaining <= 0:
        return State.EXHAUSTED
    for alert in alerts:
        if alert.firing:
            return State.PAGE if alert.severity == "page" else State.TICKET
    return State.OK


def _label(status: SloStatus) -> str:
    where = "" if status.endpoint == OVERALL else f" {status.endpoint}"
    return f"{status.slo.name}{where}"


def _freeze_reason(status: SloStatus, gate: GatePolicy) -> str | None:
    """Why this status freezes the deploy, or ``None`` when it does not."""
    if status.state is State.NO_DATA:
        return None
    remaining = status.remaining_ratio if status.remaining_ratio is not None else 0.0
    period = format_duration(status.slo.period_seconds)
    if gate.freeze_on_exhausted and remaining <= 0:
        return (
            f"{_label(status)}: error budget exhausted ({remaining:.1%} left, "
            f"SLI {status.sli_ratio:.4%} < {status.slo.objective_ratio:.4%} over {period})"
        )
    if gate.min_remaining_ratio > 0 and remaining < gate.min_remaining_ratio:
        return (
            f"{_label(status)}: {remaining:.1%} of the error budget left, "
            f"policy requires {gate.min_remaining_ratio:.1%}"
        )
    for alert in status.alerts:
        if alert.firing and alert.severity in gate.freeze_severities:
            return (
                f"{_label(status)}: {alert.severity} burn rate "
                f"{alert.long_burn_rate:.2f}x over {format_duration(alert.long_window_seconds)} "
                f"and {alert.short_burn_rate:.2f}x over "
                f"{format_duration(alert.short_window_seconds)} > {alert.threshold:.2f}x "
                f"({alert.budget_fraction:.0%} of the budget in "
                f"{format_duration(alert.long_window_seconds)})"
            )
    return None


def decide(statuses: Iterable[SloStatus], gate: GatePolicy, environment: str) -> Verdict:
    """The gate: 1 freeze beats 2 no data beats 0 go; the reason fits on one line.

    Only overall statuses are gated unless ``gate.endpoints``; an endpoint without enough
    data never blocks on its own (its traffic is a slice of the overall SLO's).
    """
    gated = [
        s
        for s in statuses
        if (not gate.slos or s.slo.name in gate.slos) and (s.endpoint == OVERALL or gate.endpoints)
    ]
    if not gated:
        return Verdict(
            EXIT_NO_DATA, "no-data", f"no SLO of the spec applies to environment {environment!r}"
        )
    freezes = [r for r in (_freeze_reason(s, gate) for s in gated) if r]
    no_data = [s for s in gated if s.state is State.NO_DATA and s.endpoint == OVERALL]
    if no_data and gate.on_no_data == "freeze":
        freezes.extend(f"{_label(s)}: no data (freeze on no data)" for s in no_data)
    if freezes:
        more = f" (+{len(freezes) - 1} more)" if len(freezes) > 1 else ""
        return Verdict(EXIT_FREEZE, "freeze", f"freeze: {environment}: {freezes[0]}{more}")
    if no_data and gate.on_no_data == "error":
        first = no_data[0]
        more = f" (+{len(no_data) - 1} more)" if len(no_data) > 1 else ""
        return Verdict(
            EXIT_NO_DATA,
            "no-data",
            f"no data: {environment}: {_label(first)}: {first.counts.total:g} events in "
            f"{format_duration(first.slo.period_seconds)}, at least {first.slo.min_events} "
            f"needed{more}",
        )
    lines = []
    for s in gated:
        if s.endpoint != OVERALL:
            continue
        if s.remaining_ratio is None:
            lines.append(f"{s.slo.name} no data")
        else:
            lines.append(f"{s.slo.name} {s.remaining_ratio:.1%} budget left")
    return Verdict(EXIT_GO, "go", f"go: {environment}: " + ", ".join(lines))
