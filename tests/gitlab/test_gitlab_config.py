"""`.gitlab-ci.yml` as GitLab reads it: its own schema, which jobs each pipeline holds,
and the promises the file makes (reports, retention, the token, the ledger's cache)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from cirunner import ROOT, Config, evaluate

SCHEDULE = {"CI_PIPELINE_SOURCE": "schedule", "CI_DEFAULT_BRANCH": "main",
            "CI_COMMIT_BRANCH": "main"}  # fmt: skip
MERGE_REQUEST = {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_DEFAULT_BRANCH": "main"}
PUSH_MAIN = {"CI_PIPELINE_SOURCE": "push", "CI_DEFAULT_BRANCH": "main",
             "CI_COMMIT_BRANCH": "main"}  # fmt: skip
PUSH_BRANCH = {**PUSH_MAIN, "CI_COMMIT_BRANCH": "feature"}
WEB = {"CI_PIPELINE_SOURCE": "web", "CI_DEFAULT_BRANCH": "main", "CI_COMMIT_BRANCH": "main"}


def test_valid_against_gitlabs_own_schema() -> None:
    tool = shutil.which("check-jsonschema")
    assert tool, "check-jsonschema comes with the dev extra (pip install -e '.[dev]')"
    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.gitlab-ci", "--data-transform", "gitlab-ci",
         str(ROOT / ".gitlab-ci.yml")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


@pytest.mark.parametrize(
    ("variables", "jobs"),
    [
        (SCHEDULE, {"probes:scheduled": "on_success", "slo:report": "always"}),
        (MERGE_REQUEST, {"self-tests": "on_success"}),
        (PUSH_MAIN, {"gate:slo": "on_success", "deploy": "on_success", "capacity": "manual"}),
        (WEB, {"gate:slo": "on_success", "deploy": "on_success", "capacity": "manual"}),
        (PUSH_BRANCH, {}),
    ],
    ids=["schedule", "merge-request", "push-main", "web", "push-branch"],
)
def test_each_pipeline_holds_its_jobs(ci_config: Config, variables, jobs) -> None:
    assert ci_config.pipeline(variables) == jobs


def test_deploy_needs_the_gate_and_the_report_needs_the_probes(ci_config: Config) -> None:
    jobs = ci_config.jobs
    assert jobs["deploy"].needs == [("gate:slo", True)]
    assert jobs["slo:report"].needs == [("probes:scheduled", True)]
    order = ci_config.stages
    assert order.index("gate") < order.index("deploy")
    assert "slo gate --environment" in "\n".join(jobs["gate:slo"].scripts("script"))
    assert jobs["capacity"].spec["rules"][0]["when"] == "manual"


@pytest.mark.parametrize("name", ["probes:scheduled", "gate:slo"])
def test_probe_jobs_declare_their_reports(ci_config: Config, name: str) -> None:
    artifacts = ci_config.jobs[name].spec["artifacts"]
    assert artifacts["when"] == "always"
    assert artifacts["reports"] == {"junit": "reports/junit.xml", "metrics": "reports/metrics.txt"}
    assert "reports/allure-results/" in artifacts["paths"]
    assert "reports/results.jsonl" in artifacts["paths"]


def test_every_artifact_expires(ci_config: Config) -> None:
    for name, job in ci_config.jobs.items():
        artifacts = job.spec.get("artifacts")
        if artifacts:
            assert re.fullmatch(r"\d+ (days|weeks?)", artifacts.get("expire_in", "")), name
    report = ci_config.jobs["slo:report"].spec["artifacts"]
    assert report["expire_in"] == "30 days"  # longer than nothing: the ledger's fallback copy
    assert {"reports/slo/", "reports/slo-ledger.sqlite"} <= set(report["paths"])


def test_the_ledger_has_one_writer_and_its_cache_is_keyed_by_environment(
    ci_config: Config,
) -> None:
    def ledger_cache(name: str) -> dict:
        [cache] = [c for c in ci_config.jobs[name].caches() if "slo-ledger" in c["key"]]
        return cache

    writer = ledger_cache("slo:report")
    assert writer["key"] == "slo-ledger-$ST_ENVIRONMENT"
    assert writer["paths"] == ["reports/slo-ledger.sqlite"]
    assert writer["policy"] == "pull-push" and writer["when"] == "always"
    assert ledger_cache("gate:slo")["policy"] == "pull"
    assert ci_config.jobs["slo:report"].spec["resource_group"] == "slo-ledger-$ST_ENVIRONMENT"
    for name in ("slo:report", "gate:slo"):
        assert "python scripts/ci/ledger.py restore" in ci_config.jobs[name].scripts("script")


def test_the_token_is_written_quietly_and_never_echoed(ci_config: Config) -> None:
    for name in ("probes:scheduled", "gate:slo", "capacity"):
        job = ci_config.jobs[name]
        script = job.scripts("script")
        assert script[0] == "set +x", name
        assert any("printf '%s' \"$SPACETIME_JWT\" >" in line for line in script), name
        assert 'rm -f "$CI_PROJECT_DIR/.jwt"' in job.scripts("after_script"), name
    for name, job in ci_config.jobs.items():
        for line in job.scripts("before_script") + job.scripts("script"):
            assert not re.search(r"\becho\b[^\n]*SPACETIME_JWT", line), (name, line)
            assert not re.search(r"set -[a-z]*x", line), (name, line)
            assert not re.search(r"\becho\b[^\n]*(ALERT_WEBHOOK_URL|SLO_LEDGER_API_TOKEN)", line)


def test_variables_the_jobs_expect_are_declared(ci_config: Config) -> None:
    declared = ci_config.doc["variables"]
    for name in ("ST_TARGET", "ST_PROFILE", "ST_ENVIRONMENT", "LOAD_SHAPE", "LOAD_TIME_SCALE"):
        assert name in declared and declared[name].get("description"), name
    assert set(declared["LOAD_SHAPE"]["options"]) == {"step", "ramp", "spike", "soak"}


@pytest.mark.parametrize(
    ("expression", "variables", "expected"),
    [
        ('$A == "x"', {"A": "x"}, True),
        ('$A == "x"', {}, False),
        ("$A == null", {}, True),
        ('$A != "x" && $B', {"A": "y", "B": "1"}, True),
        ('$A == "x" || ($B == "y" && $C == $D)', {"B": "y", "C": "1", "D": "1"}, True),
        ("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", {"CI_DEFAULT_BRANCH": "main"}, False),
    ],
)
def test_the_harness_reads_rules_like_gitlab(expression: str, variables, expected: bool) -> None:
    assert evaluate(expression, variables) is expected
