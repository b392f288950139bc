"""Prometheus recording and multi-window alert rules for the spec's SLOs. Pure.

The rules read the counters ``slo push`` exports and compute what the report computes:

* ``slo:sli_error:ratio_rate<w>``   bad / total over each window, per environment;
* ``slo:burn_rate:ratio_rate<w>``   that divided by the error budget ``1 - objective``;
* ``slo:endpoint_burn_rate:ratio_rate<w>`` the same per method and endpoint;
* ``slo:error_budget_remaining:ratio`` ``1 -`` the period's burn rate;
* alert ``SloErrorBudgetBurn`` per policy line: both windows above the derived factor and
  at least ``min_events`` events in the long window (the report's low-traffic rule);
* alert ``SloErrorBudgetExhausted`` when nothing is left.

Range selectors are inclusive at both ends and the ledger counts ``[now - w, now)``: with
counters sampled once a minute and holding the events of the minutes before, both see the
same events, which the tests check with ``promtool test rules``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from slo.durations import format_duration
from slo.model import Budgeting, Policy, Slo, Spec
from slo.policy import needed_windows
from slo.promql import selector

TOTAL = "slo_events_total"
GOOD = "slo_good_events_total"
ENDPOINT_LABELS = "environment, method, endpoint"


def error_ratio_expr(slo: Slo, window: int, by: str = "environment") -> str:
    """``(total - good) / total`` over ``window``; NaN when there were no events."""
    sel = selector(slo)
    rng = format_duration(window)
    total = f"sum by ({by}) (rate({TOTAL}{{{sel}}}[{rng}]))"
    good = f"sum by ({by}) (rate({GOOD}{{{sel}}}[{rng}]))"
    return f"({total} - {good}) / {total}"


def record_name(kind: str, window: int) -> str:
    return f"slo:{kind}:ratio_rate{format_duration(window)}"


def slo_group(slo: Slo, policy: Policy) -> dict[str, Any]:
    """One rule group per SLO: recording rules for every window, then the alerts."""
    labels = {"slo": slo.name}
    budget = repr(slo.budget_ratio)
    rules: list[dict[str, Any]] = []
    for window in needed_windows(policy, slo.period_seconds):
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
    sel = selector(slo)
    for alert in policy.alerts:
        factor = alert.factor(slo.period_seconds)
        long_w, short_w = alert.long_window_seconds, alert.short_window_seconds
        long_name, short_name = format_duration(long_w), format_duration(short_w)
        enough = (
            f"sum by (environment) (increase({TOTAL}{{{sel}}}[{long_name}])) >= {slo.min_events}"
        )
        rules.append(
            {
                "alert": "SloErrorBudgetBurn",
                "expr": (
                    f'{record_name("burn_rate", long_w)}{{slo="{slo.name}"}} > {factor!r}\n'
                    f'and {record_name("burn_rate", short_w)}{{slo="{slo.name}"}} > {factor!r}\n'
                    f"and on (environment) {enough}"
                ),
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
                        f"Burn rate above {factor:.4g}x over {long_name} and {short_name} "
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
    return {"name": f"slo-{slo.name}", "rules": rules}


def rule_groups(spec: Spec) -> tuple[dict[str, Any], list[str]]:
    """All groups, and a note for each SLO that cannot be expressed (Timeslices)."""
    groups, skipped = [], []
    for slo in spec.slos:
        if slo.budgeting is Budgeting.TIMESLICES:
            skipped.append(f"{slo.name}: Timeslices budgeting has no rule form here, skipped")
            continue
        groups.append(slo_group(slo, spec.policy))
    return {"groups": groups}, skipped


def to_yaml(data: Any) -> str:
    """Block-style YAML with multi-line expressions kept readable."""

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=1000)


def rules_yaml(spec: Spec) -> tuple[str, Sequence[str]]:
    groups, skipped = rule_groups(spec)
    header = (
        "# Generated by `python -m slo rules` from the SLO spec; do not edit by hand.\n"
        "# Inputs: slo_events_total and slo_good_events_total, pushed by `slo push`.\n"
    )
    return header + to_yaml(groups), skipped
