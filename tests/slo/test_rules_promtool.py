"""`slo rules` against promtool: the rules are valid, and on the same recorded results
Prometheus computes the module's burn rates and fires the module's alerts."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from slo import spec as specs
from slo.durations import format_duration
from slo.evaluate import build_report
from slo.rules import rule_groups
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
    data = yaml.safe_load(out.read_text())
    names = {r.get("record") for g in data["groups"] for r in g["rules"]}
    assert {"slo:burn_rate:ratio_rate5m", "slo:burn_rate:ratio_rate28d"} <= names
    factors = sorted(
        float(r["expr"].split(" > ")[1].split("\n")[0])
        for r in data["groups"][0]["rules"]
        if r.get("alert") == "SloErrorBudgetBurn"
    )
    assert factors == pytest.approx(sorted([13.44, 5.6, 2.8, 28 / 30]))


def test_promtool_burn_rates_and_alerts_equal_the_module(
    tmp_path: Path, write_results, burning, counters, selector_of
) -> None:
    ledger_path = tmp_path / "ledger.sqlite"
    minutes = HOURS * 60
    # mid-incident and at its end; rule groups are evaluated every 20m (the alerts have no
    # `for:`), so both instants are evaluation instants and promtool stays quick
    eval_minutes = (minutes - 20, minutes)
    with Ledger.open(ledger_path, create=True) as ledger:
        ingest_files(ledger, [write_results(burning(BASE, HOURS))], SPEC.slos, BASE)
    series = counters(ledger_path, SPEC, BASE, minutes)
    groups, _ = rule_groups(SPEC)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(groups, sort_keys=False))

    windows = (300, 1800, 3600, 7200, 21600)
    tests = []
    compared = 0
    for minute in eval_minutes:
        now = BASE + minute * 60
        with Ledger.open(ledger_path, create=False) as ledger:
            inputs = ledger_inputs(ledger, SPEC, "production", now)
        report = build_report(slos=SPEC.slos, inputs=inputs, policy=SPEC.policy, now=now,
                              environment="production", source="test", spec_origin="")  # fmt: skip
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
            for alert, rule in zip(
                status.alerts,
                [
                    r
                    for r in _group(groups, status.slo.name)
                    if r.get("alert") == "SloErrorBudgetBurn"
                ],
                strict=True,
            ):
                if alert.firing:
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
            {"rule_files": ["rules.yaml"], "evaluation_interval": "20m", "tests": tests},
            sort_keys=False,
        )
    )
    result = _promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "SUCCESS" in result.stdout


def _group(groups: dict, slo_name: str) -> list[dict]:
    return next(g["rules"] for g in groups["groups"] if g["name"] == f"slo-{slo_name}")
