"""Policy as data: multi-window alert states, SLO states and the deploy gate. Pure.

The default policy is the SRE Workbook's: page when 2% of the budget goes in 1h (with a 5m
short window) or 5% in 6h (30m); ticket when 10% goes in 1d (2h) or 10% in 3d (6h).
Factors are derived from each SLO's period: ``budget_fraction * period / long_window``,
which gives the familiar 14.4/6/3/1 only for a 30-day period (28 days: 13.44/5.6/2.8/0.93).

The gate also asks how much history its counts stand on (``history_need``): a ledger that
a lost CI cache left with one run can hold enough events to pass ``min_events``, and a go
on it would be a go on four minutes of evidence.
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
    History,
    HistoryNeed,
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
HISTORY_SOURCES: tuple[str, ...] = ("probe",)
"""Runs that count as history: the schedule's (and the gate's own) probe runs. A load run
is a manual one-off burst: it says nothing about the days between schedules."""
CACHE_HINT = "cache lost? see docs/gitlab.md, After a cache loss"


def needed_windows(policy: Policy, period_seconds: int) -> tuple[int, ...]:
    """Every window a source must count for one SLO: burn windows, alert windows, period."""
    windows = set(policy.burn_windows_seconds)
    for alert in policy.alerts:
        windows.update((alert.long_window_seconds, alert.short_window_seconds))
    windows.add(policy.exhaustion_window_seconds)
    windows.add(period_seconds)
    return tuple(sorted(windows))


def history_need(policy: Policy, period_seconds: int) -> HistoryNeed:
    """What the history rule asks of the ledger, derived from the policy's alert lines.

    Span: the long window of the policy's longest line (3d by default), capped at the
    longest gated SLO period ``period_seconds``. A go says no burn the policy can see is
    running, and its slowest line (10% of the budget in 3d) can only be judged on a
    ledger that reaches back over its long window; the whole period (28d) would block
    deploys for four weeks after every cache loss. Runs: one per short window of that
    line across the span (3d / 6h = 12), so that two runs days apart (an old copy of the
    ledger plus the gate's own run) cannot pass for a history. ``gate.min_history_seconds``
    and ``gate.min_runs`` replace either figure; a run count derived from an overridden
    span keeps the line's short window as its step.
    """
    gate = policy.gate
    if policy.alerts:
        line = max(policy.alerts, key=lambda a: (a.long_window_seconds, -a.short_window_seconds))
        derived, step = min(line.long_window_seconds, period_seconds), line.short_window_seconds
    else:
        derived, step = period_seconds, max(period_seconds, 1)
    span = derived if gate.min_history_seconds is None else gate.min_history_seconds
    runs = gate.min_runs if gate.min_runs is not None else -(-span // step)
    return HistoryNeed(span_seconds=max(span, 0), runs=max(runs, 0))


def _elapsed(seconds: float) -> str:
    """An observed span in its two largest units, rounded down: never overstated."""
    rest = max(int(seconds), 0)
    units = (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1))
    for big, big_s, small, small_s in units:
        if rest >= big_s:
            whole, part = divmod(rest, big_s)
            part //= small_s
            return f"{whole}{big}{part}{small}" if part else f"{whole}{big}"
    return f"{rest}s"


def history_shortfall(history: History) -> str | None:
    """Why the ledger's history is too short for a go, or ``None`` when it is enough.

    Only probe runs of the environment count (``HISTORY_SOURCES``). The rule holds when
    the oldest run started at least ``need.span_seconds`` before ``now`` and at least
    ``need.runs`` runs started within that span (``RunHistory.recent_runs``).
    """
    need = history.need
    if need.span_seconds <= 0 and need.runs <= 0:
        return None
    counted = [
        r
        for r in history.runs
        if r.source in HISTORY_SOURCES and r.environment == history.environment
    ]
    starts = [r.first_ts for r in counted if r.first_ts is not None]
    span = max(0.0, history.now - min(starts)) if starts else 0.0
    recent = sum(r.recent_runs for r in counted)
    if span >= need.span_seconds and recent >= need.runs:
        return None
    held, needed = _runs(recent, "probe run"), _runs(need.runs, "run")
    if need.span_seconds <= 0:
        return f"ledger history holds {held}; the gate needs >= {needed}"
    window = format_duration(need.span_seconds)
    return (
        f"ledger history spans {_elapsed(span)} with {held} in the last {window}; "
        f"the gate needs >= {window} with >= {needed}"
    )


def _runs(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def gated_statuses(statuses: Iterable[SloStatus], gate: GatePolicy) -> list[SloStatus]:
    """The statuses the gate judges: the chosen SLOs, overall unless ``gate.endpoints``."""
    return [
        s
        for s in statuses
        if (not gate.slos or s.slo.name in gate.slos) and (s.endpoint == OVERALL or gate.endpoints)
    ]


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


def decide(
    statuses: Iterable[SloStatus],
    gate: GatePolicy,
    environment: str,
    *,
    history: History | None,
) -> Verdict:
    """The gate: 1 freeze beats 2 no data beats 0 go; the reason fits on one line.

    Only overall statuses are gated unless ``gate.endpoints``; an endpoint without enough
    data never blocks on its own (its traffic is a slice of the overall SLO's).

    ``history`` is the ledger's (``None`` only for a source that keeps its own, such as
    Prometheus). History too short for a go is no data, handled as ``gate.on_no_data``
    says. A freeze on the counts still wins over it: an exhausted budget or a page burn
    is evidence whatever the history, and a freeze blocks the deploy as no data would.
    """
    gated = gated_statuses(statuses, gate)
    if not gated:
        return Verdict(
            EXIT_NO_DATA, "no-data", f"no SLO of the spec applies to environment {environment!r}"
        )
    freezes = [r for r in (_freeze_reason(s, gate) for s in gated) if r]
    no_data = [s for s in gated if s.state is State.NO_DATA and s.endpoint == OVERALL]
    short = history_shortfall(history) if history is not None else None
    if short and gate.on_no_data == "freeze":
        freezes.append(f"{short} (freeze on no data)")
    if no_data and gate.on_no_data == "freeze":
        freezes.extend(f"{_label(s)}: no data (freeze on no data)" for s in no_data)
    if freezes:
        more = f" (+{len(freezes) - 1} more)" if len(freezes) > 1 else ""
        return Verdict(EXIT_FREEZE, "freeze", f"freeze: {environment}: {freezes[0]}{more}")
    if short and gate.on_no_data == "error":
        more = f" (+{len(no_data)} more)" if no_data else ""
        return Verdict(
            EXIT_NO_DATA, "no-data", f"no data: {environment}: {short} ({CACHE_HINT}){more}"
        )
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
    caveat = f" ({short}, on_no_data: go)" if short else ""
    return Verdict(EXIT_GO, "go", f"go: {environment}: " + ", ".join(lines) + caveat)
