"""Scale-out against the real servers (Debian `prometheus`, `prometheus-pushgateway`),
started on loopback by the tests and always killed in teardown.

* `slo push` puts probe results and SLI counters on a Pushgateway, and a Prometheus that
  scrapes it (honor_labels) sees them;
* a Prometheus loads `slo rules` and evaluates every rule without error: Sloth's metadata
  series answer, and SloMetricAbsent is pending where no counter exists;
* a Prometheus whose TSDB is back-filled (``promtool tsdb create-blocks-from
  openmetrics``) from recorded results answers `--source prometheus` with the ledger's
  SLIs and burn rates.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import support

from slo import spec as specs
from slo import synth
from slo.evaluate import build_report
from slo.sources import PrometheusSource, ingest_files, ledger_inputs
from slo.store import Ledger

PROMETHEUS = shutil.which("prometheus")
PUSHGATEWAY = shutil.which("prometheus-pushgateway")
PROMTOOL = shutil.which("promtool")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (PROMETHEUS and PUSHGATEWAY and PROMTOOL),
        reason="Debian packages prometheus and prometheus-pushgateway are needed",
    ),
]
SPEC = specs.from_path(None)
HOURS = 8


@contextlib.contextmanager
def _prometheus(
    tmp_path: Path, scrape: str | None = None, rules: Path | None = None
) -> Iterator[str]:
    port = support.free_port()
    config = tmp_path / "prometheus.yml"
    text = "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
    if rules:
        text += f"rule_files:\n  - '{rules}'\n"
    if scrape:
        text += (
            "scrape_configs:\n  - job_name: pushgateway\n    honor_labels: true\n"
            f"    static_configs:\n      - targets: ['{scrape}']\n"
        )
    config.write_text(text)
    url = f"http://127.0.0.1:{port}"
    with support.service(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            "--storage.tsdb.retention.time=3650d",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        f"{url}/-/ready",
        tmp_path / "prometheus.log",
    ):
        yield url


def test_push_to_a_real_pushgateway_and_scrape_it(
    cli, write_results, tmp_path: Path, pushgateway: str, request: pytest.FixtureRequest
) -> None:
    now = time.time()
    records = synth.simple_run(1, now - 120, good=97, bad=3)
    records += synth.simple_run(2, now - 60, good=40, endpoint=("POST", "/scene"))
    ledger = tmp_path / "ledger.sqlite"
    result = cli("push", "--gateway", pushgateway, "--ledger", ledger, write_results(records))
    assert result.code == 0, result.err
    assert f"slo: push: {pushgateway}: job=spacetime_slo environment=production" in result.out
    metrics = httpx.get(f"{pushgateway}/metrics", timeout=5).text
    assert (
        'slo_events_total{endpoint="/scenes",environment="production",instance="",'
        'job="spacetime_slo",method="GET",slo="availability",source="probe"} 100'
    ) in metrics
    assert 'slo_good_events_total{endpoint="/scenes",environment="production"' in metrics
    assert 'probe_success{endpoint="/scenes",environment="production",family="contract"' in metrics
    assert "probe_duration_seconds{" in metrics and "slo_objective_ratio{" in metrics
    failed = next(
        line for line in metrics.splitlines()
        if line.startswith('probe_success{endpoint="/scenes",environment="production"')
    )  # fmt: skip
    assert failed.endswith(" 0")  # the /scenes probe failed on its last run

    prometheus_dir = tmp_path / "prom"
    prometheus_dir.mkdir()
    with _prometheus(prometheus_dir, scrape=pushgateway.removeprefix("http://")) as url:
        source = PrometheusSource(url)
        request.addfinalizer(source.close)
        deadline = time.monotonic() + 20
        seen: list = []
        while time.monotonic() < deadline and not seen:
            seen = source.query('slo_events_total{slo="availability",method="GET"}', time.time())
            time.sleep(0.5)
        assert seen and seen[0][1] == 100.0
        assert seen[0][0]["job"] == "spacetime_slo"  # honor_labels kept the pushed job
        probes = source.probe_rows("production", time.time())
        assert {(p.endpoint, p.last_outcome) for p in probes} == {
            ("/scenes", "failed"), ("/scene", "passed"),
        }  # fmt: skip

    # a second push carries the running totals: counters never go backwards
    more = synth.simple_run(3, now - 30, good=10)
    assert (
        cli(
            "push", "--gateway", pushgateway, "--ledger", ledger, write_results(more, "m.jsonl")
        ).code
        == 0
    )
    metrics = httpx.get(f"{pushgateway}/metrics", timeout=5).text
    assert 'method="GET",slo="availability",source="probe"} 110' in metrics


def test_push_errors_are_one_line(cli, write_results, tmp_path: Path) -> None:
    port = support.free_port()
    records = synth.simple_run(1, time.time(), good=3)
    result = cli("push", "--gateway", f"http://127.0.0.1:{port}", "--ledger",
                 tmp_path / "l.sqlite", write_results(records))  # fmt: skip
    assert result.code == 2
    assert result.err.startswith(
        f"slo: error: http://127.0.0.1:{port}: (pushgateway): expected a reachable"
    )
    assert result.err.count("\n") == 1


def _openmetrics(series: dict[tuple, list[float]], base: int, selector_of) -> str:
    lines = ["# TYPE slo_events counter", "# TYPE slo_good_events counter"]
    by_family: dict[str, list[str]] = {"slo_events": [], "slo_good_events": []}
    for labels, values in sorted(series.items()):
        family = labels[0].removesuffix("_total")
        for i, value in enumerate(values):
            by_family[family].append(f"{selector_of(labels)} {value:g} {base + i * 60}")
    out = ["# TYPE slo_events counter", *by_family["slo_events"]]
    out += ["# TYPE slo_good_events counter", *by_family["slo_good_events"], "# EOF"]
    del lines
    return "\n".join(out) + "\n"


def test_prometheus_source_reads_the_same_slis_back(
    cli, write_results, burning, counters, selector_of, tmp_path: Path
) -> None:
    # recent data (Prometheus keeps blocks relative to the newest), on an hour boundary
    base = int(time.time() // 3600 * 3600) - (HOURS + 2) * 3600
    minutes = HOURS * 60
    now = base + minutes * 60
    ledger_path = tmp_path / "ledger.sqlite"
    results = write_results(burning(base, HOURS))
    with Ledger.open(ledger_path, create=True) as ledger:
        ingest_files(ledger, [results], SPEC.slos, now)
    series = counters(ledger_path, SPEC, base, minutes)
    data = tmp_path / "series.om"
    data.write_text(_openmetrics(series, base, selector_of))
    tsdb = tmp_path / "prom" / "tsdb"
    tsdb.mkdir(parents=True)
    backfill = subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(data), str(tsdb)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert backfill.returncode == 0, backfill.stderr
    with _prometheus(tmp_path / "prom") as url:
        with Ledger.open(ledger_path, create=False) as ledger:
            from_ledger = ledger_inputs(ledger, SPEC, "production", now)
        with PrometheusSource(url) as source:
            from_prometheus = source.inputs(SPEC, "production", now)
        a = build_report(slos=SPEC.slos, inputs=from_ledger, policy=SPEC.policy, now=now,
                         environment="production", source="ledger", spec_origin="")  # fmt: skip
        b = build_report(slos=SPEC.slos, inputs=from_prometheus, policy=SPEC.policy, now=now,
                         environment="production", source="prometheus", spec_origin="")  # fmt: skip
        assert [(s.slo.name, s.endpoint) for s in a.statuses] == [
            (s.slo.name, s.endpoint) for s in b.statuses
        ]
        checked = 0
        for x, y in zip(a.statuses, b.statuses, strict=True):
            assert x.sli_ratio == pytest.approx(y.sli_ratio, rel=1e-9)
            for (w, rate_x), (_, rate_y) in zip(x.burn_rates, y.burn_rates, strict=True):
                if rate_x is None:
                    assert rate_y is None or rate_y == 0
                    continue
                assert rate_y == pytest.approx(rate_x, rel=1e-9, abs=1e-12), (
                    x.slo.name,
                    x.endpoint,
                    w,
                )
                checked += 1
            assert [al.firing for al in x.alerts] == [al.firing for al in y.alerts]
            assert x.state is y.state
        assert checked >= 20
        assert any(al.firing for s in a.overall for al in s.alerts)
        # and the same through the CLI, as a user would run it
        result = cli("gate", "--source", "prometheus", "--prometheus-url", url,
                     "--environment", "production", "--now", now)  # fmt: skip
        assert result.code == 1, result.out + result.err
        assert "page burn rate" in result.out or "exhausted" in result.out
        report = cli("report", "--source", "prometheus", "--prometheus-url", url,
                     "--environment", "production", "--now", now, "--out-dir", tmp_path / "out",
                     "--format", "md,json")  # fmt: skip
        assert report.code == 0, report.err
        assert "from Prometheus" in report.out


def test_a_real_prometheus_evaluates_the_rules(cli, tmp_path: Path) -> None:
    rules = tmp_path / "slo-rules.yaml"
    assert cli("rules", "--out", rules).code == 0
    with _prometheus(tmp_path, rules=rules) as url:

        def get(path: str, **params: str) -> dict:
            return httpx.get(f"{url}{path}", params=params, timeout=5).json()["data"]

        deadline = time.monotonic() + 20
        groups: list = []
        while time.monotonic() < deadline:
            groups = get("/api/v1/rules")["groups"]
            if groups and all(r.get("lastEvaluation", "0001").startswith("2") for g in groups
                              for r in g["rules"]):  # fmt: skip
                break
            time.sleep(0.3)
        evaluated = [r for g in groups for r in g["rules"]]
        assert len(evaluated) > 60
        assert [r["name"] for r in evaluated if r["health"] != "ok"] == []
        objective = get("/api/v1/query", query='slo:objective:ratio{slo="availability"}')
        assert objective["result"][0]["value"][1] == "0.999"
        assert get("/api/v1/query", query="slo:time_period:days")["result"][0]["value"][1] == "28"
        [info] = get("/api/v1/query", query='slo:info{slo="latency"}')["result"]
        assert info["metric"]["service"] == "spacetime-httpapi"
        assert info["metric"]["objective"] == "0.95"
        # nothing was pushed: every SLO's counter is absent, so its alert is on its way
        alerts = get("/api/v1/alerts")["alerts"]
        assert {(a["labels"]["alertname"], a["labels"]["slo"], a["state"]) for a in alerts} == {
            ("SloMetricAbsent", "availability", "pending"),
            ("SloMetricAbsent", "latency", "pending"),
        }
