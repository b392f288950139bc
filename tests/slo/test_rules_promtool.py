"""`slo rules` against promtool: the rules are valid and clean; on the same recorded
results Prometheus computes the module's burn rates and fires the module's alerts (with
their `for:`); with pushes only every 5 minutes the 1h page still fires; a counter that
stops moving or disappears raises SloMetricAbsent."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from slo import spec as specs
from slo.durations import format_duration
from slo.evaluate import build_report
from slo.rules import for_seconds, rule_groups
from slo.sources import ingest_files, ledger_inputs
from slo.store import Ledger

PROMTOOL = shutil.which("promtool")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        PROMTOOL is None, reason="promtool (Debian package prometheus) not installed"
    ),
]
BASE = 1_767_225_600  # the series start at promtool's time 0 = BASE
HOURS = 8
SPEC = specs.from_path(None)


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def _round(value: float) -> float:
    """PromQL's round(v, 1e-6), reproduced bit for bit."""
    inverse = 1.0 / 1e-6
    return math.floor(value * inverse + 0.5) / inverse


def test_rules_pass_promtool_check(cli, tmp_path: Path) -> None:
    out = tmp_path / "rules.yaml"
    assert cli("rules", "--out", out).code == 0
    result = _promtool("check", "rules", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    text = out.read_text()
    assert "&id" not in text and "*id" not in text  # no YAML anchors
    assert not re.search(r"\d\.\d*0000000\d|\d\.\d*9999999\d", text)  # no float noise
    data = yaml.safe_load(text)
    rules = data["groups"][0]["rules"]
    names = {r.get("record") for g in data["groups"] for r in g["rules"]}
    assert {"slo:burn_rate:ratio_rate5m", "slo:burn_rate:ratio_rate28d"} <= names
    burns = [r for r in rules if r.get("alert") == "SloErrorBudgetBurn"]
    factors = sorted(float(r["expr"].split(" > ")[1].split("\n")[0]) for r in burns)
    assert factors == pytest.approx(sorted([13.44, 5.6, 2.8, 28 / 30]))
    assert 'slo:sli_error:ratio_rate5m{slo="availability"} / 0.001\n' in text  # the budget
    # Pyrra's `for:` per window pair; the 1h page reads 15m (3 pushes at 5m), not 5m
    assert [(r["labels"]["long_window"], r["labels"]["short_window"], r["for"]) for r in burns] == [
        ("1h", "15m", "2m"), ("6h", "30m", "15m"), ("1d", "2h", "1h"), ("3d", "6h", "3h"),
    ]  # fmt: skip
    # Sloth's metadata series, under its names and with the project's labels
    meta = {r["record"]: r for r in rules if "record" in r}
    assert meta["slo:objective:ratio"]["expr"] == "vector(0.999)"
    assert meta["slo:error_budget:ratio"]["expr"] == "vector(0.001)"
    assert meta["slo:time_period:days"]["expr"] == "vector(28)"
    assert meta["slo:info"]["labels"] == {
        "slo": "availability", "service": "spacetime-httpapi", "objective": "0.999",
        "period": "28d", "sli": "availability", "budgeting": "Occurrences",
    }  # fmt: skip
    assert {"slo:current_burn_rate:ratio", "slo:period_burn_rate:ratio",
            "slo:period_error_budget_remaining:ratio"} <= set(meta)  # fmt: skip
    [absent] = [r for r in rules if r.get("alert") == "SloMetricAbsent"]
    assert absent["for"] == "2m" and "absent_over_time(slo_events_total{" in absent["expr"]


def test_for_durations_are_pyrras() -> None:
    # Pyrra (pyrra-dev/pyrra, slo/rules.go `Windows`) for a 28d SLO: 1h/5m for 2m, 6h/30m
    # for 15m, 1d/2h for 1h, 4d/6h for 3h; the project's policy lines get the same.
    assert [format_duration(for_seconds(a)) for a in SPEC.policy.alerts] == [
        "2m", "15m", "1h", "3h",
    ]  # fmt: skip


EVAL_STEP_MINUTES = 20


def test_promtool_burn_rates_and_alerts_equal_the_module(
    tmp_path: Path, write_results, burning, counters, selector_of
) -> None:
    ledger_path = tmp_path / "ledger.sqlite"
    minutes = HOURS * 60
    # mid-incident and at its end; rule groups are evaluated every 20m, so both instants
    # are evaluation instants and promtool stays quick
    eval_minutes = (minutes - EVAL_STEP_MINUTES, minutes)
    with Ledger.open(ledger_path, create=True) as ledger:
        ingest_files(ledger, [write_results(burning(BASE, HOURS))], SPEC.slos, BASE)
    series = counters(ledger_path, SPEC, BASE, minutes)
    # counters sampled every minute: the policy's own 5m short window holds enough samples
    groups, _ = rule_groups(SPEC, push_interval_seconds=60)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(groups, sort_keys=False))
    reports: dict[int, object] = {}

    def report_at(minute: int):
        if minute not in reports:
            now = BASE + minute * 60
            with Ledger.open(ledger_path, create=False) as ledger:
                inputs = ledger_inputs(ledger, SPEC, "production", now)
            reports[minute] = build_report(
                slos=SPEC.slos, inputs=inputs, policy=SPEC.policy, now=now,
                environment="production", source="test", spec_origin="",
            )  # fmt: skip
        return reports[minute]

    def fires_at(slo_name: str, line: int, minute: int) -> bool:
        status = next(s for s in report_at(minute).overall if s.slo.name == slo_name)
        return status.alerts[line].firing

    windows = (300, 1800, 3600, 7200, 21600)
    tests = []
    compared = 0
    for minute in eval_minutes:
        report = report_at(minute)
        exprs = []
        for status in report.overall:
            rates = dict(status.burn_rates)
            for w in windows:
                if rates[w] is None:
                    continue
                compared += 1
                exprs.append(
                    {
                        "expr": f"round(slo:burn_rate:ratio_rate{format_duration(w)}"
                        f'{{slo="{status.slo.name}"}}, 0.000001)',
                        "eval_time": f"{minute}m",
                        "exp_samples": [
                            {
                                "labels": f'{{environment="production",slo="{status.slo.name}"}}',
                                "value": _round(rates[w]),
                            }
                        ],
                    }
                )
        firing = []
        for status in report.overall:
            rules = [
                r for r in _group(groups, status.slo.name) if r.get("alert") == "SloErrorBudgetBurn"
            ]
            for line, (_alert, rule, policy_line) in enumerate(
                zip(status.alerts, rules, SPEC.policy.alerts, strict=True)
            ):
                # Prometheus fires once the expression held at every evaluation from
                # `for:` ago (rounded up to the 20m step) until now
                steps = -(-for_seconds(policy_line) // (EVAL_STEP_MINUTES * 60))
                held = all(
                    fires_at(status.slo.name, line, minute - k * EVAL_STEP_MINUTES)
                    for k in range(steps + 1)
                )
                if held:
                    firing.append(
                        {
                            "exp_labels": {"environment": "production", **rule["labels"]},
                            "exp_annotations": {
                                k: v.replace("{{ $labels.environment }}", "production")
                                for k, v in rule["annotations"].items()
                            },
                        }
                    )
        tests.append(
            {
                "interval": "1m",
                "input_series": [
                    {"series": selector_of(labels), "values": " ".join(f"{v:g}" for v in values)}
                    for labels, values in sorted(series.items())
                ],
                "promql_expr_test": exprs,
                "alert_rule_test": [
                    {
                        "eval_time": f"{minute}m",
                        "alertname": "SloErrorBudgetBurn",
                        "exp_alerts": firing,
                    }
                ],
            }
        )
        if minute == minutes:
            # the incident must actually page at its end, or this test proves little
            assert any(a["exp_labels"]["severity"] == "page" for a in firing)
    assert compared >= 15
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump(
            {
                "rule_files": ["rules.yaml"],
                "evaluation_interval": f"{EVAL_STEP_MINUTES}m",
                "tests": tests,
            },
            sort_keys=False,
        )
    )
    result = _promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "SUCCESS" in result.stdout


def _group(groups: dict, slo_name: str) -> list[dict]:
    return next(g["rules"] for g in groups["groups"] if g["name"] == f"slo-{slo_name}")


# ----------------------------------------------------------------------------- 5m pushes

GET_SCENES = 'slo="availability",environment="production",source="probe",method="GET"'
TOTAL_SERIES = f'slo_events_total{{{GET_SCENES},endpoint="/scenes"}}'
GOOD_SERIES = f'slo_good_events_total{{{GET_SCENES},endpoint="/scenes"}}'
PAGE_1H = (
    'count(ALERTS{alertname="SloErrorBudgetBurn",alertstate="firing",slo="availability",'
    'long_window="1h"})'
)


def _write_rules(path: Path, push_interval_seconds: int) -> None:
    groups, _ = rule_groups(SPEC, push_interval_seconds=push_interval_seconds)
    path.write_text(yaml.safe_dump(groups, sort_keys=False))


def _pushes_every_5m(good_after_onset: str) -> list[dict]:
    # one run every 5 minutes, 100 requests each, all good for 100 minutes; then
    # `good_after_onset` (the good counter's values from sample 101 on)
    return [
        {"series": TOTAL_SERIES, "values": "0+100x20 2100+100x40"},
        {"series": GOOD_SERIES, "values": f"0+100x20 {good_after_onset}"},
    ]


def _at(minute: int, expr: str, value: float | None) -> dict:
    samples = [] if value is None else [{"labels": "{}", "value": value}]
    return {"expr": expr, "eval_time": f"{minute}m", "exp_samples": samples}


def test_the_page_fires_with_pushes_every_5_minutes(tmp_path: Path) -> None:
    """Rules are evaluated every minute, out of step with the pushes, as on a real server.

    From 105m every run has 50% errors. The widened 15m short window always holds three
    pushes: the 1h page is pending at 106m and fires at 107m (`for: 2m`). With the
    policy's bare 5m short window (the rules for per-minute samples) the 5m rate exists
    only on the instants a push lands on (one sample otherwise, and never two under
    Prometheus 3, which leaves the window's first sample out), so the page never holds
    for 2m and never fires: the same promtool run shows it.
    """
    _write_rules(tmp_path / "pushes-5m.yaml", 300)
    _write_rules(tmp_path / "per-minute.yaml", 60)
    series = _pushes_every_5m("2050+50x40")
    widened = [
        _at(106, PAGE_1H, None),
        _at(107, PAGE_1H, 1),
        *(_at(m, PAGE_1H, 1) for m in (108, 111, 114, 117, 120, 140)),
        _at(108, 'count(slo:burn_rate:ratio_rate15m{slo="availability"})', 1),
        _at(108, 'count(slo:burn_rate:ratio_rate5m{slo="availability"})', None),
        _at(110, 'count(slo:burn_rate:ratio_rate5m{slo="availability"})', 1),  # aligned
    ]
    bare = [_at(m, PAGE_1H, None) for m in (105, 107, 108, 110, 111, 120, 140)]
    for name, rules, exprs in (
        ("widened.yaml", "pushes-5m.yaml", widened),
        ("bare.yaml", "per-minute.yaml", bare),
    ):
        (tmp_path / name).write_text(
            yaml.safe_dump(
                {
                    "rule_files": [rules],
                    "evaluation_interval": "1m",
                    "tests": [
                        {"interval": "5m", "input_series": series, "promql_expr_test": exprs}
                    ],
                },
                sort_keys=False,
            )
        )
    result = _promtool("test", "rules", "widened.yaml", "bare.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert result.stdout.count("SUCCESS") == 2


def test_absent_or_stale_counters_raise_slo_metric_absent(tmp_path: Path) -> None:
    """Pushes that stop leave a flat counter on the Pushgateway (increase 0); a gateway no
    longer scraped leaves none (absent). Either way SloMetricAbsent fires; the latency
    SLO, with no series at all here, raises it throughout."""
    _write_rules(tmp_path / "rules.yaml", 300)
    rules = _group(rule_groups(SPEC)[0], "availability") + _group(rule_groups(SPEC)[0], "latency")
    absent = {r["labels"]["slo"]: r for r in rules if r.get("alert") == "SloMetricAbsent"}

    def expected(slo: str, **labels: str) -> dict:
        return {
            "exp_labels": {**labels, **absent[slo]["labels"]},
            "exp_annotations": absent[slo]["annotations"],
        }

    latency = expected("latency", source="probe")
    stale = {
        "interval": "5m",
        "input_series": [
            {"series": TOTAL_SERIES, "values": "0+100x20 2000x40"},
            {"series": GOOD_SERIES, "values": "0+100x20 2000x40"},
        ],
        "alert_rule_test": [
            {"eval_time": "100m", "alertname": "SloMetricAbsent", "exp_alerts": [latency]},
            {"eval_time": "130m", "alertname": "SloMetricAbsent",
             "exp_alerts": [expected("availability", environment="production"), latency]},
        ],
    }  # fmt: skip
    gone = {
        "interval": "5m",
        "input_series": [
            {"series": TOTAL_SERIES, "values": "0+100x20 _x40"},
            {"series": GOOD_SERIES, "values": "0+100x20 _x40"},
        ],
        "alert_rule_test": [
            {"eval_time": "100m", "alertname": "SloMetricAbsent", "exp_alerts": [latency]},
            {"eval_time": "130m", "alertname": "SloMetricAbsent",
             "exp_alerts": [expected("availability", source="probe"), latency]},
        ],
    }  # fmt: skip
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump(
            {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [stale, gone]},
            sort_keys=False,
        )
    )
    result = _promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "SUCCESS" in result.stdout
