"""Prometheus recording and multi-window alert rules for the spec's SLOs. Pure.

The rules read the counters ``slo push`` exports and compute what the report computes:

* ``slo:sli_error:ratio_rate<w>``   bad / total over each window, per environment;
* ``slo:burn_rate:ratio_rate<w>``   that divided by the error budget ``1 - objective``;
* ``slo:endpoint_burn_rate:ratio_rate<w>`` the same per method and endpoint;
* ``slo:error_budget_remaining:ratio`` ``1 -`` the period's burn rate;
* Sloth's metadata series, under Sloth's names so its dashboards find them:
  ``slo:objective:ratio``, ``slo:error_budget:ratio``, ``slo:time_period:days``,
  ``slo:current_burn_rate:ratio``, ``slo:period_burn_rate:ratio``,
  ``slo:period_error_budget_remaining:ratio`` and an info series ``slo:info`` (value 1),
  labelled with the project's ``slo`` and ``service`` (Sloth's ``sloth_slo`` and
  ``sloth_service``);
* alert ``SloErrorBudgetBurn`` per policy line: both windows above the derived factor and
  at least ``min_events`` events in the long window (the report's low-traffic rule), held
  for ``for:`` half the line's short window (Pyrra's 2m, 15m, 1h, 3h for 5m, 30m, 2h, 6h);
* alert ``SloErrorBudgetExhausted`` when nothing is left;
* alert ``SloMetricAbsent`` (Pyrra's ``SLOMetricAbsent``) when the SLI's counter is absent
  or has not moved over the alert window: once pushes stop, every ratio is 0/0 and the
  burn alerts go quiet, so the silence itself must alert.

Range selectors are inclusive at both ends in Prometheus 2 and the ledger counts
``[now - w, now)``: with counters sampled once a minute and holding the events of the
minutes before, both see the same events, which the tests check with ``promtool test
rules``. A rate needs two samples in its window, and Prometheus 3 leaves the sample at the
window's start out: with a push every 5 minutes a 5m window holds one sample most of the
time (two only on an aligned instant), so the 1h/5m page would never fire. Alert short
windows are therefore never shorter than ``SAMPLES_PER_SHORT_WINDOW`` push intervals
(``push_interval_seconds``, 5 minutes by default: the schedule's ``*/5``); with pushes
every 5 minutes the 1h page reads a 15m short window. Recording rules for the policy's own
windows are still written, for dashboards and for denser data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from slo.durations import format_duration
from slo.model import AlertWindow, Budgeting, Policy, Slo, Spec
from slo.policy import needed_windows
from slo.promql import selector

TOTAL = "slo_events_total"
GOOD = "slo_good_events_total"
ENDPOINT_LABELS = "environment, method, endpoint"
DEFAULT_PUSH_INTERVAL_SECONDS = 300
SAMPLES_PER_SHORT_WINDOW = 3
"""Two samples make a rate; a third keeps it when a push is late or the window's first
sample is excluded (Prometheus 3)."""
ABSENT_SEVERITY = "ticket"


def number(value: float) -> str:
    """A float as PromQL text without binary noise: ``0.001``, not ``0.0010000000000000009``."""
    rounded = round(float(value), 12)
    return str(int(rounded)) if rounded.is_integer() else repr(rounded)


def short_window(window_seconds: int, push_interval_seconds: int) -> int:
    """An alert's short window, widened to hold enough pushes to make a rate."""
    return max(window_seconds, SAMPLES_PER_SHORT_WINDOW * push_interval_seconds)


def for_seconds(alert: AlertWindow) -> int:
    """How long a line must hold before it fires: half its short window, in whole minutes.

    Pyrra's durations for its 28-day windows (``slo/rules.go``, ``Windows``): 1h/5m for 2m,
    6h/30m for 15m, 1d/2h for 1h, 4d/6h for 3h; half the short window gives exactly these
    for the default lines (2.5m rounds down to 2m) and scales with a policy's own.
    """
    return max(60, alert.short_window_seconds // 2 // 60 * 60)


def error_ratio_expr(slo: Slo, window: int, by: str = "environment") -> str:
    """``(total - good) / total`` over ``window``; NaN when there were no events."""
    sel = selector(slo)
    rng = format_duration(window)
    total = f"sum by ({by}) (rate({TOTAL}{{{sel}}}[{rng}]))"
    good = f"sum by ({by}) (rate({GOOD}{{{sel}}}[{rng}]))"
    return f"({total} - {good}) / {total}"


def record_name(kind: str, window: int) -> str:
    return f"slo:{kind}:ratio_rate{format_duration(window)}"


def alert_windows(alert: AlertWindow, push_interval_seconds: int) -> tuple[int, int]:
    """The long and (widened) short window the rules evaluate for one policy line."""
    return alert.long_window_seconds, short_window(
        alert.short_window_seconds, push_interval_seconds
    )


def absent_window(policy: Policy, push_interval_seconds: int) -> int:
    """Over how long the counter must stay still for ``SloMetricAbsent``: the fastest
    line's (widened) short window, and never less than the short-window minimum."""
    shorts = [alert_windows(a, push_interval_seconds)[1] for a in policy.alerts]
    return min(shorts, default=SAMPLES_PER_SHORT_WINDOW * push_interval_seconds)


def _metadata(slo: Slo, fastest_short: int) -> list[dict[str, Any]]:
    """Sloth's metadata series for its dashboards, with this project's labels."""
    labels = {"slo": slo.name, "service": slo.service}
    by_slo = f'{{slo="{slo.name}"}}'
    period = format_duration(slo.period_seconds)
    info = {
        **labels,
        "objective": number(slo.objective_ratio),
        "period": period,
        "sli": slo.definition,
        "budgeting": slo.budgeting.value,
    }
    return [
        {"record": "slo:objective:ratio", "expr": f"vector({number(slo.objective_ratio)})",
         "labels": labels},
        {"record": "slo:error_budget:ratio", "expr": f"vector({number(slo.budget_ratio)})",
         "labels": labels},
        {"record": "slo:time_period:days", "expr": f"vector({number(slo.period_seconds / 86400)})",
         "labels": labels},
        {"record": "slo:current_burn_rate:ratio",
         "expr": f"{record_name('burn_rate', fastest_short)}{by_slo}", "labels": labels},
        {"record": "slo:period_burn_rate:ratio",
         "expr": f"{record_name('burn_rate', slo.period_seconds)}{by_slo}", "labels": labels},
        {"record": "slo:period_error_budget_remaining:ratio",
         "expr": f"1 - slo:period_burn_rate:ratio{by_slo}", "labels": labels},
        {"record": "slo:info", "expr": "vector(1)", "labels": info},
    ]  # fmt: skip


def slo_group(
    slo: Slo, policy: Policy, push_interval_seconds: int = DEFAULT_PUSH_INTERVAL_SECONDS
) -> dict[str, Any]:
    """One rule group per SLO: recording rules for every window, then the alerts."""
    labels = {"slo": slo.name}
    budget = number(slo.budget_ratio)
    rules: list[dict[str, Any]] = []
    windows = set(needed_windows(policy, slo.period_seconds))
    windows.update(alert_windows(a, push_interval_seconds)[1] for a in policy.alerts)
    for window in sorted(windows):
        rules.append(
            {
                "record": record_name("sli_error", window),
                "expr": error_ratio_expr(slo, window),
                "labels": labels,
            }
        )
        rules.append(
            {
                "record": record_name("burn_rate", window),
                "expr": f'{record_name("sli_error", window)}{{slo="{slo.name}"}} / {budget}',
                "labels": labels,
            }
        )
        if slo.per_endpoint:
            rules.append(
                {
                    "record": record_name("endpoint_burn_rate", window),
                    "expr": f"({error_ratio_expr(slo, window, ENDPOINT_LABELS)}) / {budget}",
                    "labels": labels,
                }
            )
    rules.append(
        {
            "record": "slo:error_budget_remaining:ratio",
            "expr": f'1 - {record_name("burn_rate", slo.period_seconds)}{{slo="{slo.name}"}}',
            "labels": labels,
        }
    )
    absent_w = absent_window(policy, push_interval_seconds)
    rules.extend(_metadata(slo, absent_w))
    sel = selector(slo)
    for alert in policy.alerts:
        factor = number(alert.factor(slo.period_seconds))
        long_w, short_w = alert_windows(alert, push_interval_seconds)
        long_name, short_name = format_duration(long_w), format_duration(short_w)
        enough = (
            f"sum by (environment) (increase({TOTAL}{{{sel}}}[{long_name}])) >= {slo.min_events}"
        )
        rules.append(
            {
                "alert": "SloErrorBudgetBurn",
                "expr": (
                    f'{record_name("burn_rate", long_w)}{{slo="{slo.name}"}} > {factor}\n'
                    f'and {record_name("burn_rate", short_w)}{{slo="{slo.name}"}} > {factor}\n'
                    f"and on (environment) {enough}"
                ),
                "for": format_duration(for_seconds(alert)),
                "labels": {
                    "severity": alert.severity,
                    "slo": slo.name,
                    "long_window": long_name,
                    "short_window": short_name,
                },
                "annotations": {
                    "summary": (
                        f"{slo.name}: {alert.budget_fraction:.0%} of the "
                        f"{format_duration(slo.period_seconds)} error budget spent in {long_name}"
                    ),
                    "description": (
                        f"Burn rate above {float(factor):.4g}x over {long_name} and {short_name} "
                        f"(objective {slo.objective_ratio:.4%}) in {{{{ $labels.environment }}}}."
                    ),
                },
            }
        )
    period = format_duration(slo.period_seconds)
    rules.append(
        {
            "alert": "SloErrorBudgetExhausted",
            "expr": (
                f'slo:error_budget_remaining:ratio{{slo="{slo.name}"}} <= 0\n'
                f"and on (environment) sum by (environment) "
                f"(increase({TOTAL}{{{sel}}}[{period}])) >= {slo.min_events}"
            ),
            "labels": {"severity": "ticket", "slo": slo.name},
            "annotations": {
                "summary": f"{slo.name}: error budget exhausted",
                "description": (
                    f"No error budget left over {format_duration(slo.period_seconds)} in "
                    "{{ $labels.environment }}: deploys are frozen by `slo gate`."
                ),
            },
        }
    )
    absent_name = format_duration(absent_w)
    fastest = min(policy.alerts, key=lambda a: a.long_window_seconds, default=None)
    absent: dict[str, Any] = {
        "alert": "SloMetricAbsent",
        "expr": (
            f"absent_over_time({TOTAL}{{{sel}}}[{absent_name}])\n"
            f"or sum by (environment) (increase({TOTAL}{{{sel}}}[{absent_name}])) == 0"
        ),
    }
    if fastest is not None:
        absent["for"] = format_duration(for_seconds(fastest))
    absent["labels"] = {"severity": ABSENT_SEVERITY, "slo": slo.name}
    absent["annotations"] = {
        "summary": f"{slo.name}: no new events in {absent_name}",
        "description": (
            f"{TOTAL}{{{sel}}} is absent or has not increased in {absent_name} "
            "(pushes stopped, or the Pushgateway is not scraped): the burn-rate alerts "
            f"of {slo.name} cannot fire without data."
        ),
    }
    rules.append(absent)
    return {"name": f"slo-{slo.name}", "rules": rules}


def rule_groups(
    spec: Spec, push_interval_seconds: int = DEFAULT_PUSH_INTERVAL_SECONDS
) -> tuple[dict[str, Any], list[str]]:
    """All groups, and a note for each SLO that cannot be expressed (Timeslices).

    ``push_interval_seconds``: how often the counters get new values (the schedule's
    cadence when they come through the Pushgateway), for the short windows.
    """
    groups, skipped = [], []
    for slo in spec.slos:
        if slo.budgeting is Budgeting.TIMESLICES:
            skipped.append(f"{slo.name}: Timeslices budgeting has no rule form here, skipped")
            continue
        groups.append(slo_group(slo, spec.policy, push_interval_seconds))
    return {"groups": groups}, skipped


def to_yaml(data: Any) -> str:
    """Block-style YAML with multi-line expressions kept readable, and no anchors."""

    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=1000)


def rules_yaml(
    spec: Spec, push_interval_seconds: int = DEFAULT_PUSH_INTERVAL_SECONDS
) -> tuple[str, Sequence[str]]:
    groups, skipped = rule_groups(spec, push_interval_seconds)
    header = (
        "# Generated by `python -m slo rules` from the SLO spec; do not edit by hand.\n"
        "# Inputs: slo_events_total and slo_good_events_total, pushed by `slo push`,\n"
        f"# at least every {format_duration(push_interval_seconds)} (alert short windows "
        f"hold {SAMPLES_PER_SHORT_WINDOW} pushes).\n"
    )
    return header + to_yaml(groups), skipped
