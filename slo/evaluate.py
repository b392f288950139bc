"""Pure assembly of a report: counts in, statuses out. No I/O, ``now`` is an argument."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from slo import budget
from slo.model import (
    OVERALL,
    Counts,
    Policy,
    ProbeRow,
    Report,
    Slo,
    SloInput,
    SloStatus,
    State,
)
from slo.policy import evaluate_alerts, slo_state

STATE_ORDER = (State.EXHAUSTED, State.PAGE, State.TICKET, State.NO_DATA, State.OK)


def assess(slo: Slo, data: SloInput, policy: Policy, now: float) -> SloStatus:
    """Judge one SLO for one endpoint from its window counts."""
    period = data.windows.get(slo.period_seconds, Counts())
    consumed = budget.consumed_ratio(period, slo.budget_ratio)
    remaining = budget.remaining_ratio(consumed)
    total_minutes = budget.budget_minutes(slo.period_seconds, slo.budget_ratio)
    burn_rates = tuple(
        (w, budget.burn_rate(data.windows.get(w, Counts()), slo.budget_ratio))
        for w in policy.burn_windows_seconds
    )
    alerts = evaluate_alerts(slo, data.windows, policy.alerts)
    current = budget.burn_rate(
        data.windows.get(policy.exhaustion_window_seconds, Counts()), slo.budget_ratio
    )
    state = slo_state(period, slo.min_events, remaining, alerts)
    return SloStatus(
        slo=slo,
        endpoint=data.endpoint,
        counts=period,
        sli_ratio=budget.sli_ratio(period),
        sli_interval=budget.wilson_interval(period.good, period.total, policy.wilson_z),
        consumed_ratio=consumed,
        remaining_ratio=remaining,
        budget_minutes=total_minutes,
        consumed_minutes=None if consumed is None else consumed * total_minutes,
        remaining_minutes=None if remaining is None else remaining * total_minutes,
        burn_rates=burn_rates,
        period_burn_rate=consumed,
        alerts=alerts,
        time_to_exhaustion_seconds=budget.time_to_exhaustion(
            remaining, current, slo.period_seconds
        ),
        state=state,
        burndown=budget.burndown(data.series, now, slo.period_seconds, data.step, slo.budget_ratio),
        series=data.series,
        series_step=data.step,
    )


def build_report(
    *,
    slos: Sequence[Slo],
    inputs: Iterable[SloInput],
    policy: Policy,
    now: float,
    environment: str,
    source: str,
    spec_origin: str,
    probes: Sequence[ProbeRow] = (),
    excluded_load: Sequence[tuple[str, Counts]] = (),
    notes: Sequence[str] = (),
) -> Report:
    """Assess every input; the overall status of an SLO comes first, endpoints after it.

    An SLO without any input still gets an overall ``no_data`` status: a missing SLO must
    show up in the report (and fail the gate), not silently disappear.
    """
    by_slo: dict[str, list[SloInput]] = {}
    for item in inputs:
        by_slo.setdefault(item.slo, []).append(item)
    statuses: list[SloStatus] = []
    for slo in slos:
        items = by_slo.get(slo.name, [])
        overall = [i for i in items if i.endpoint == OVERALL] or [SloInput(slo.name, OVERALL, {})]
        statuses.append(assess(slo, overall[0], policy, now))
        if slo.per_endpoint:
            for item in sorted((i for i in items if i.endpoint != OVERALL), key=_endpoint_key):
                statuses.append(assess(slo, item, policy, now))
    return Report(
        generated_at=now,
        environment=environment,
        source=source,
        spec_origin=spec_origin,
        policy=policy,
        statuses=tuple(statuses),
        probes=tuple(probes),
        excluded_load=tuple(excluded_load),
        notes=tuple(notes),
    )


def _endpoint_key(item: SloInput) -> tuple[str, str]:
    method, _, path = item.endpoint.partition(" ")
    return (path, method)


def worst_state(statuses: Iterable[SloStatus]) -> State:
    """The report's headline: exhausted > page > ticket > no data > ok (overall only)."""
    seen = {s.state for s in statuses if s.endpoint == OVERALL}
    for state in STATE_ORDER:
        if state in seen:
            return state
    return State.NO_DATA
