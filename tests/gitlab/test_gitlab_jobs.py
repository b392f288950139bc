"""Every job of `.gitlab-ci.yml` really runs: its scripts in bash, in a fresh copy of the
repository, with the CI/CD variables it expects, against a reference server started
here (tests/gitlab/cirunner.py is the runner). Runs are kept short: `PYTEST_ADDOPTS`
selects a few probe families, the load run is a two-stage table of seconds.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from cirunner import ROOT, Config, JobRun, Runner
from prometheus_client.parser import text_string_to_metric_families
from support import refserver

from slo import synth
from slo.cli import main as slo_main

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUICK = '-p no:randomly -k "test_performance or test_contract"'
WEBHOOK_PATH = "/services/T0000/B0000/s3cr3t-webhook-path"


def project_variables(server, **extra: str) -> dict[str, str]:
    """What a project sets in Settings > CI/CD > Variables, plus the runner's shortcuts."""
    return {
        "ST_TARGET": server.base_url,
        "ST_MANAGER_URL": server.manager_url,
        "ST_PROFILE": "embedded",
        "ST_ENVIRONMENT": "local",
        "SPACETIME_JWT": server.token_file.read_text().strip(),
        "SPACETIME_SKIP_BOOTSTRAP": "1",  # this machine is set up already
        "PROBE_WORKERS": "0",
        "PYTEST_ADDOPTS": QUICK,
        **extra,
    }


def assert_secret_kept(token: str, *runs: JobRun, also: tuple[str, ...] = ()) -> None:
    """Neither the token (nor a segment of it) nor the webhook path in logs or artifacts."""
    needles = [token, *(p for p in token.split(".") if len(p) > 8), *also]
    for run in runs:
        texts = [run.output, run.after_output]
        texts += [p.read_text(errors="replace") for p in run.artifacts.rglob("*") if p.is_file()]
        for text in texts:
            for needle in needles:
                assert needle not in text, f"{run.name} leaked a secret"
        assert not (run.project_dir / ".jwt").exists(), "after_script left the token file"


def ledger_runs(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0]


def test_scheduled_pipelines_report_alert_and_keep_the_ledger(
    ci_config: Config, tmp_path: Path, receiver, pushgateway: str
) -> None:
    assert ci_config.pipeline({"CI_PIPELINE_SOURCE": "schedule"}) == {
        "probes:scheduled": "on_success", "slo:report": "always",
    }  # fmt: skip
    textfiles = tmp_path / "node-exporter-textfiles"
    textfiles.mkdir()
    with (
        refserver(tmp_path / "low-fps", "--rate", "100", "--burst", "100",
                  "--fault", "perf-low-fps") as faulty,
        refserver(tmp_path / "fine", "--rate", "100", "--burst", "100") as fine,
    ):  # fmt: skip
        alerting = {
            "ALERT_WEBHOOK_URL": receiver.url + WEBHOOK_PATH,
            "ALERT_WEBHOOK_FORMAT": "slack",
            "PUSHGATEWAY_URL": pushgateway,
            "NODE_EXPORTER_TEXTFILE_DIR": str(textfiles),
        }
        runner = Runner(ci_config, tmp_path / "ci", project_variables(faulty, **alerting))

        # 1: the target's fps is low: the probe job fails, the report still runs, one alert
        probes = runner.run("probes:scheduled", "schedule")
        assert probes.returncode == 1, probes.output[-3000:]
        assert probes.missing_artifacts == []
        metrics = (probes.artifacts / "reports/metrics.txt").read_text()
        assert 'spacetime_probes_failing{family="performance"} 1.0' in metrics
        assert (probes.artifacts / "reports/allure-results/categories.json").is_file()
        report = runner.run("slo:report", "schedule")
        assert report.returncode == 0, report.output[-3000:]
        assert report.missing_artifacts == []
        assert "ledger: no ledger found: a new one starts" in report.output
        assert "## SLO report: local:" in report.output  # the Markdown, in the job log
        slo = report.artifacts / "reports/slo"
        outputs = ("slo-report.md", "slo-report.html", "slo-report.json", "slo-burndown.png",
                   "slo-burn-rates.png", "spacetime_probes.prom")  # fmt: skip
        for name in outputs:
            assert (slo / name).is_file(), name
        assert [b["text"] for b in receiver.bodies(WEBHOOK_PATH)] == [
            "[FIRING] LOW_FPS (critical) on local: engine.fps 42 &lt; 45"
        ]
        pushed = httpx.get(f"{pushgateway}/metrics", timeout=5).text
        fps_probe = 'probe="probes/test_performance.py::test_performance_threshold[engine.fps]"'
        [line] = [
            x for x in pushed.splitlines() if x.startswith("probe_success{") and fps_probe in x
        ]
        assert 'environment="local"' in line and 'job="spacetime_slo"' in line
        assert line.endswith(" 0")
        textfile = (textfiles / "spacetime_probes.prom").read_text()
        families = {f.name: f for f in text_string_to_metric_families(textfile)}
        assert {"probe_success", "probe_duration_seconds", "slo_events"} <= set(families)
        assert not list(textfiles.glob(".*"))  # renamed into place, no temporary left

        # 2: four minutes later in real life, seconds here: the same alert is suppressed
        runner.new_pipeline()
        assert runner.run("probes:scheduled", "schedule").returncode == 1
        report2 = runner.run("slo:report", "schedule")
        assert report2.returncode == 0, report2.output[-3000:]
        assert "ledger: using the cache's reports/slo-ledger.sqlite" in report2.output
        assert "LOW_FPS firing (critical): engine.fps 42 < 45 [suppressed" in report2.output
        assert len(receiver.bodies(WEBHOOK_PATH)) == 1
        assert ledger_runs(report2.artifacts / "reports/slo-ledger.sqlite") == 2

        # 3: the target is fine again: the probes pass and the alert resolves
        runner.project_variables.update(project_variables(fine, **alerting))
        runner.new_pipeline()
        assert runner.run("probes:scheduled", "schedule").returncode == 0
        report3 = runner.run("slo:report", "schedule")
        assert report3.returncode == 0, report3.output[-3000:]
        assert receiver.bodies(WEBHOOK_PATH)[-1]["text"] == (
            "[RESOLVED] LOW_FPS on local: cleared (was: engine.fps 42 &lt; 45)"
        )
        assert ledger_runs(report3.artifacts / "reports/slo-ledger.sqlite") == 3
        token = faulty.token_file.read_text().strip()
    every = [r for r in runner.cache_dir.parent.glob("job-*") if r.is_dir()]
    assert len(every) >= 6
    assert_secret_kept(token, probes, report, report2, also=(WEBHOOK_PATH,))


def test_a_project_without_variables_probes_the_embedded_server(
    ci_config: Config, tmp_path: Path
) -> None:
    """A fresh copy of the project, no CI/CD variables set: the schedule still runs green."""
    runner = Runner(
        ci_config, tmp_path / "ci",
        {"SPACETIME_SKIP_BOOTSTRAP": "1", "PROBE_WORKERS": "0", "PYTEST_ADDOPTS": QUICK},
    )  # fmt: skip
    probes = runner.run("probes:scheduled", "schedule")
    assert probes.returncode == 0, probes.output[-3000:]
    assert "target: no ST_TARGET: the embedded reference server (environment local)" in (
        probes.output
    )
    assert "WARNING" not in probes.output
    report = runner.run("slo:report", "schedule")
    assert report.returncode == 0, report.output[-3000:]
    assert "## SLO report: local: NO_DATA" in report.output  # 100 events make a verdict
    assert "not sent: no webhook configured" not in report.output  # nothing fires
    assert (runner.cache_dir / "slo-ledger-staging" / "reports/slo-ledger.sqlite").is_file()


def test_the_gate_freezes_on_a_burning_budget_and_the_deploy_waits(
    ci_config: Config, tmp_path: Path
) -> None:
    """traversal-crash-500: 5xx on ~6 % of the traversal requests burns the 99.9 % budget."""
    with refserver(tmp_path / "server", "--rate", "100", "--burst", "100",
                   "--fault", "traversal-crash-500") as server:  # fmt: skip
        runner = Runner(
            ci_config, tmp_path / "ci",
            project_variables(server, PYTEST_ADDOPTS='-p no:randomly -k "test_traversal"'),
        )  # fmt: skip
        gate = runner.run("gate:slo", "push")
    assert gate.returncode == 1, gate.output[-3000:]
    assert "probes exited 1; the error budget decides the deploy" in gate.output
    assert "slo: freeze: local: availability" in gate.output
    assert (gate.artifacts / "reports/junit.xml").is_file()
    assert (gate.artifacts / "reports/slo/slo-report.json").is_file()
    # GitLab runs `deploy` only when what it needs succeeded
    assert ci_config.jobs["deploy"].needs == [("gate:slo", True)]
    assert_secret_kept(server.token_file.read_text().strip(), gate)


def seed_ledger_cache(runner: Runner, environment: str = "local") -> None:
    """What the schedule's slo:report jobs leave in the cache after three days: a run
    every 6 hours, the oldest 73 hours ago (the gate's history rule, docs/slo.md)."""
    start = time.time() - 73 * 3600  # the gate judges at the real clock's now
    history = synth.probe_history(start=start, runs=13, every_s=6 * 3600, error_ratio=0.0,
                                  slow_ratio=0.0, environment=environment)  # fmt: skip
    results = runner.workspace / "seed-results.jsonl"
    results.write_text(synth.dumps(history), encoding="utf-8")
    ledger = runner.cache_dir / f"slo-ledger-{environment}" / "reports/slo-ledger.sqlite"
    assert slo_main(["ingest", str(results), "--ledger", str(ledger)]) == 0


def test_the_gate_lets_a_healthy_target_deploy(ci_config: Config, tmp_path: Path) -> None:
    with refserver(tmp_path / "server", "--rate", "100", "--burst", "100") as server:
        runner = Runner(
            ci_config, tmp_path / "ci",
            project_variables(server, PYTEST_ADDOPTS='-p no:randomly -k "test_traversal"'),
        )  # fmt: skip
        # a lost cache: the gate's own healthy run is all the ledger holds, and that is no go
        fresh = runner.run("gate:slo", "push")
        assert fresh.returncode == 2, fresh.output[-3000:]
        assert "slo: no data: local: ledger history spans" in fresh.output
        assert "the gate needs >= 3d with >= 12 runs" in fresh.output
        seed_ledger_cache(runner)
        gate = runner.run("gate:slo", "push")
        assert gate.returncode == 0, gate.output[-3000:]
        assert "slo: go: local:" in gate.output
        deploy = runner.run("deploy", "push")
    assert deploy.returncode == 0, deploy.output
    assert "deploy: 01234567 passed the gate" in deploy.output


@pytest.mark.cpu_heavy
def test_the_manual_capacity_job_runs_locust_headless(ci_config: Config, tmp_path: Path) -> None:
    stages = tmp_path / "stages.yaml"
    stages.write_text(
        "tiny:\n  stages:\n"
        "    - {duration_s: 4, users: 2, spawn_rate: 10}\n"
        "    - {duration_s: 4, users: 4, spawn_rate: 10}\n"
    )
    with refserver(tmp_path / "server", "--rate", "1000", "--burst", "1000") as server:
        variables = project_variables(
            server, LOAD_SHAPE="tiny", LOAD_STAGES=str(stages),
            LOAD_ARGS="--st-bucket-s 2 --st-think-scale 0.05",
        )  # fmt: skip
        runner = Runner(ci_config, tmp_path / "ci", variables)
        run = runner.run("capacity", "web")
    assert run.returncode == 0, run.output[-4000:]
    assert run.missing_artifacts == []
    capacity = json.loads((run.artifacts / "reports/capacity.json").read_text())
    assert capacity["slos"] and capacity["run_id"]
    records = (run.artifacts / "reports/load-results.jsonl").read_text().splitlines()
    stages_seen = {
        json.loads(line)["stage"]["users"]
        for line in records
        if json.loads(line)["kind"] == "aggregate"
    }
    assert stages_seen == {2, 4}
    assert_secret_kept(server.token_file.read_text().strip(), run)


def test_the_merge_request_job_runs_the_self_tests(ci_config: Config, tmp_path: Path) -> None:
    runner = Runner(
        ci_config, tmp_path / "ci",
        {"SPACETIME_SKIP_BOOTSTRAP": "1", "PYTEST_ADDOPTS": "-p no:randomly -k test_seqset"},
    )  # fmt: skip
    run = runner.run("self-tests", "merge_request_event")
    lint = [
        subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
        for command in (
            ["ruff", "check", "."], ["ruff", "format", "--check", "."], ["deptry", "."], ["mypy"]
        )
    ]  # fmt: skip
    if any(result.returncode for result in lint):
        # The job is right to fail, as .ci/run does, and so is this test: a tree that
        # is not clean must not pass its own merge-request job.
        assert run.returncode != 0
        assert "$ python -m pytest -n 2 tests" not in run.output
        first = next((r.stdout or r.stderr).strip().splitlines()[0] for r in lint if r.returncode)
        pytest.fail(f"the repository is not lint-clean, the job stops before the tests: {first}")
    assert run.returncode == 0, run.output[-4000:]
    assert "ok -- validation done" in run.output
    assert (run.artifacts / "reports/self-test/junit.xml").is_file()
