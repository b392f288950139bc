"""The run as metrics: GitLab's metrics report from a results file, node_exporter's
textfile from the ledger (what `slo push` sends, written atomically)."""

from __future__ import annotations

import json
from pathlib import Path

from alert_runs import probe_run
from prometheus_client.parser import text_string_to_metric_families

from slo import cli as slo_cli
from slo import runmetrics


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_gitlab_metrics_report_of_the_last_run() -> None:
    old = probe_run("b" * 32, ts=1_700_000_000.0, performance=[(500, 3.0)] * 4)
    new = probe_run("c" * 32, performance=[(200, 10.0), (200, 30.0), (None, None), (503, 2.0)],
                    rate_limit="failed")  # fmt: skip
    text = runmetrics.gitlab_metrics(old + new)
    values = samples(text)
    assert values[("spacetime_probes", (("outcome", "failed"),))] == 1
    assert values[("spacetime_probes", (("outcome", "passed"),))] == 2
    assert values[("spacetime_probes_failing", (("family", "rate_limit"),))] == 1
    assert values[("spacetime_probes_failing", (("family", "performance"),))] == 0
    assert values[("spacetime_probe_requests", (("result", "total"),))] == 4
    assert values[("spacetime_probe_requests", (("result", "unanswered"),))] == 1
    assert values[("spacetime_probe_requests", (("result", "server_error"),))] == 1
    assert values[("spacetime_probe_availability_ratio", ())] == 0.5
    key = (("endpoint", "/performance"), ("method", "GET"))
    assert values[("spacetime_probe_latency_p95_ms", key)] == 30.0
    assert values[("spacetime_probe_run_duration_seconds", ())] == 5.0
    # one `name{labels} value` per line without spaces inside: GitLab splits on whitespace
    for line in text.splitlines():
        if not line.startswith("#"):
            assert len(line.split(" ")) == 2, line


def test_textfile_is_what_the_pushgateway_gets(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in probe_run(fps=42.0)))
    ledger = tmp_path / "ledger.sqlite"
    assert slo_cli.main(["ingest", "--ledger", str(ledger), str(results)]) == 0
    out = tmp_path / "textfiles" / "spacetime_probes.prom"
    assert runmetrics.main(["textfile", "--ledger", str(ledger), "--out", str(out)]) == 0
    values = samples(out.read_text())
    success = {
        dict(labels)["probe"]: value
        for (name, labels), value in values.items()
        if name == "probe_success"
    }
    assert success["probes/test_performance.py::test_performance_threshold[engine.fps]"] == 1
    assert all(dict(lb)["environment"] == "staging" for (n, lb) in values if n == "probe_success")
    assert any(name == "slo_events_total" for name, _ in values)
    assert [p.name for p in out.parent.iterdir()] == ["spacetime_probes.prom"]


def test_bad_input_is_one_line(tmp_path: Path, capsys) -> None:
    assert runmetrics.main(["gitlab", str(tmp_path / "none.jsonl")]) == 2
    assert capsys.readouterr().err.startswith(f"slo: error: {tmp_path / 'none.jsonl'}: (file):")
    code = runmetrics.main(["textfile", "--ledger", str(tmp_path / "no.sqlite"), "--out",
                            str(tmp_path / "x.prom")])  # fmt: skip
    assert code == 2
    assert "expected an existing SLO ledger" in capsys.readouterr().err
