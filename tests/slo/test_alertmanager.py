"""`slo.notify --alertmanager`: the v2 bodies (pure), and a real Alertmanager (Debian
`prometheus-alertmanager`) that routes to a local webhook receiver: firing alerts arrive
with their labels, a cleared type arrives resolved, a silence made through its API
suppresses one."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from alert_runs import GIB, probe_run
from support import ROOT, free_port

from slo import alertmanager as am
from slo import notify as nt

NOW = 1_800_000_100.0
PIPELINE = "https://gitlab.example/group/probes/-/pipelines/42"


def notify(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALERT_", "ALERTMANAGER_", "SLO_", "CI_"))
    }
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "slo", "notify", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=environment,
    )  # fmt: skip


def _verdicts(records: list[dict[str, Any]]) -> tuple[nt.RunSummary, dict[str, nt.Alert | None]]:
    run = nt.last_run(records)
    assert run is not None
    return run, nt.evaluate_rules(run, nt.Thresholds())


# ----------------------------------------------------------------------------- pure


def test_firing_bodies_carry_labels_annotations_and_the_pipeline() -> None:
    run, verdicts = _verdicts(probe_run(fps=42.0, memory_bytes=11 * GIB))
    context = nt.Context(pipeline_url=PIPELINE, job_url="https://gitlab.example/j/1")
    postings = am.firing(verdicts, run, context, None, NOW, 1200.0)
    assert [p.body["labels"] for p in postings] == [
        {"alertname": "HIGH_MEMORY", "severity": "high", "environment": "staging",
         "target": "https://staging.example:8080"},
        {"alertname": "LOW_FPS", "severity": "critical", "environment": "staging",
         "target": "https://staging.example:8080"},
    ]  # fmt: skip
    fps = postings[1].body
    assert fps["annotations"]["summary"] == "engine.fps 42 < 45"
    assert fps["annotations"]["description"].startswith("[FIRING] LOW_FPS (critical) on staging")
    assert fps["annotations"]["run_id"] == "a" * 32
    assert fps["startsAt"] == "2027-01-15T08:01:40.000Z"
    assert fps["endsAt"] == "2027-01-15T08:21:40.000Z"  # now + ttl: ends if runs stop
    assert fps["generatorURL"] == PIPELINE
    no_ci = am.firing(verdicts, run, nt.Context(), None, NOW, 1200.0)
    assert "generatorURL" not in no_ci[0].body


def test_slo_page_burn_is_one_alert_per_burning_slo() -> None:
    run, verdicts = _verdicts(probe_run())
    line = {"severity": "page", "alert": True, "long_window_burn_rate": 20.0,
            "short_window_burn_rate": 30.0, "error_budget_burn_rate_threshold": 13.44,
            "error_budget_policy_step_name": "1h/5m"}  # fmt: skip
    report = {
        "state": "PAGE",
        "slos": [
            {"slo_name": "availability", "endpoint": None, "valid": True, "alerts": [line]},
            {"slo_name": "latency", "endpoint": None, "valid": True, "alerts": [line]},
            {"slo_name": "latency", "endpoint": "/scenes", "valid": True, "alerts": [line]},
        ],
    }
    verdicts = nt.evaluate_rules(run, nt.Thresholds(), report)
    burns = [
        p for p in am.firing(verdicts, run, nt.Context(), report, NOW, 60) if "slo" in p.labels
    ]
    assert [(p.labels["slo"], p.labels["severity"]) for p in burns] == [
        ("availability", "critical"), ("latency", "critical"),
    ]  # fmt: skip
    assert burns[0].body["annotations"]["summary"] == (
        "availability: burn 20.00x and 30.00x > 13.44x (1h/5m)"
    )


def test_resolutions_are_what_alertmanager_holds_and_the_run_no_longer_fires() -> None:
    run, verdicts = _verdicts(probe_run(fps=80.0, memory_bytes=None))  # fps high, memory unknown
    ident = {"environment": "staging", "target": "https://staging.example:8080"}
    active = [
        {"labels": {"alertname": "LOW_FPS", "severity": "critical", **ident},
         "annotations": {"summary": "engine.fps 42 < 45"}},
        {"labels": {"alertname": "API_DOWN", "severity": "critical", **ident}},
        {"labels": {"alertname": "HIGH_MEMORY", "severity": "high", **ident}},  # no evidence
        {"labels": {"alertname": "API_DOWN", "severity": "critical",
                    "environment": "production", "target": "https://staging.example:8080"}},
        {"labels": {"alertname": "SomethingElse", **ident}},
        {"labels": {"alertname": "LOW_FPS", "severity": "high", **ident}},  # still firing
    ]  # fmt: skip
    posted = am.firing(verdicts, run, nt.Context(), None, NOW, 60)
    resolved = am.resolutions(am.active_labels(active), verdicts, run, nt.Context(), posted, NOW)
    assert [(p.labels["alertname"], p.labels["severity"]) for p in resolved] == [
        ("LOW_FPS", "critical"), ("API_DOWN", "critical"),
    ]  # fmt: skip
    body = resolved[0].body
    assert body["startsAt"] == body["endsAt"] == am.iso(NOW)
    assert body["annotations"] == {"summary": "engine.fps 42 < 45", "resolved_by_run": "a" * 32}
    assert resolved[0].line == "LOW_FPS resolved (critical): was engine.fps 42 < 45"


def test_urls_and_labels_never_carry_credentials() -> None:
    assert am.target_label("https://user:pw@api.example:8443/v1?token=x") == (
        "https://api.example:8443"
    )
    assert am.alerts_url("https://u:p@am.example/prefix/") == (
        "https://u:p@am.example/prefix/api/v2/alerts"
    )
    assert am.alerts_url("http://am:9093/api/v2/alerts") == "http://am:9093/api/v2/alerts"
    assert not am.valid_url("am.example:9093") and am.valid_url("http://am:9093")


def test_bad_or_unreachable_alertmanager_is_one_line(write_run) -> None:
    results = write_run(probe_run(fps=42.0))
    bad = notify("--results", results, "--alertmanager", "am.internal:9093/secretpart")
    assert bad.returncode == 2
    assert bad.stderr == (
        "slo: error: (command line): slo notify: --alertmanager: expected an http(s) URL "
        "with a host (value not shown)\n"
    )
    port = free_port()  # nothing listens there
    down = notify("--results", results, "--timeout", "2",
                  env={"ALERTMANAGER_URL": f"http://127.0.0.1:{port}/secretpart"})  # fmt: skip
    assert down.returncode == 3
    lines = down.stderr.splitlines()
    assert lines == [
        "slo: notify: alertmanager: active alerts not read: ConnectError; "
        "no resolutions sent this run",
        "slo: notify: LOW_FPS firing (critical): engine.fps 42 < 45 "
        "[NOT delivered: alertmanager: ConnectError]",
    ]
    assert "secretpart" not in down.stdout + down.stderr and str(port) not in down.stderr


def test_the_payload_module_is_pure() -> None:
    code = (
        "import sys, slo.alertmanager\n"
        "print(sorted(m for m in ('sqlite3', 'httpx') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
    tree = ast.parse((ROOT / "slo" / "alertmanager.py").read_text())
    called = {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }
    assert not called & {"open", "read_text", "time", "now", "utcnow", "post", "request"}


# ----------------------------------------------------------------------------- real server


def _wait(what: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not seen within {timeout_s:g} s")


def _alerts_in(notifications: list[Any]) -> list[tuple[str, str, str]]:
    return [
        (a["labels"]["alertname"], a["labels"]["severity"], a["status"])
        for n in notifications
        for a in n["alerts"]
    ]


@pytest.mark.integration
def test_alertmanager_routes_firing_and_resolved_alerts(alertmanager, write_run) -> None:
    env = {"ALERTMANAGER_URL": alertmanager.url, "CI_PIPELINE_URL": PIPELINE}
    first = notify("--results", write_run(probe_run(fps=42.0, memory_bytes=11 * GIB)), env=env)
    assert first.returncode == 0, first.stderr
    assert "slo: notify: LOW_FPS firing (critical): engine.fps 42 < 45 [sent: alertmanager]" in (
        first.stdout
    )
    assert "127.0.0.1" not in first.stdout + first.stderr
    [note] = _wait(alertmanager.notifications)
    assert note["status"] == "firing" and note["groupLabels"] == {"environment": "staging"}
    assert sorted(_alerts_in([note])) == [
        ("HIGH_MEMORY", "high", "firing"), ("LOW_FPS", "critical", "firing"),
    ]  # fmt: skip
    fps = next(a for a in note["alerts"] if a["labels"]["alertname"] == "LOW_FPS")
    assert fps["labels"] == {
        "alertname": "LOW_FPS",
        "severity": "critical",
        "environment": "staging",
        "target": "https://staging.example:8080",
    }
    assert fps["annotations"]["summary"] == "engine.fps 42 < 45"
    assert fps["generatorURL"] == PIPELINE

    # the memory clears: Alertmanager still holds HIGH_MEMORY, so the run resolves it
    second = notify("--results", write_run(probe_run(fps=42.0)), env=env)
    assert second.returncode == 0, second.stderr
    assert "slo: notify: HIGH_MEMORY resolved (high)" in second.stdout
    later = _wait(lambda: alertmanager.notifications()[1:])
    assert sorted(_alerts_in(later[:1])) == [
        ("HIGH_MEMORY", "high", "resolved"), ("LOW_FPS", "critical", "firing"),
    ]  # fmt: skip

    # all clear: the group resolves; types never fired are not announced as resolved
    third = notify("--results", write_run(probe_run()), env=env)
    assert third.returncode == 0, third.stderr
    last = _wait(lambda: alertmanager.notifications()[2:])
    assert last[0]["status"] == "resolved"
    assert _alerts_in(last[:1]) == [("LOW_FPS", "critical", "resolved")]
    assert {a for a, _, _ in _alerts_in(alertmanager.notifications())} == {"HIGH_MEMORY", "LOW_FPS"}


@pytest.mark.integration
def test_a_silence_made_through_alertmanager_suppresses_an_alert(alertmanager, write_run) -> None:
    start = datetime.now(UTC)
    silence = httpx.post(
        f"{alertmanager.url}/api/v2/silences",
        json={
            "matchers": [
                {"name": "alertname", "value": "LOW_FPS", "isRegex": False, "isEqual": True},
                {"name": "environment", "value": "staging", "isRegex": False, "isEqual": True},
            ],
            "startsAt": start.isoformat(),
            "endsAt": (start + timedelta(hours=1)).isoformat(),
            "createdBy": "test",
            "comment": "known slow GPU host",
        },
        timeout=5,
    )
    assert silence.status_code == 200, silence.text
    silence_id = silence.json()["silenceID"]
    result = notify("--results", write_run(probe_run(fps=42.0, memory_bytes=11 * GIB)),
                    "--alertmanager", alertmanager.url)  # fmt: skip
    assert result.returncode == 0, result.stderr
    [note] = _wait(alertmanager.notifications)
    assert _alerts_in([note]) == [("HIGH_MEMORY", "high", "firing")]  # LOW_FPS held back
    held = httpx.get(f"{alertmanager.url}/api/v2/alerts", timeout=5).json()
    fps = next(a for a in held if a["labels"]["alertname"] == "LOW_FPS")
    assert fps["status"]["state"] == "suppressed"
    assert fps["status"]["silencedBy"] == [silence_id]
    time.sleep(2.5)  # two more group intervals: still nothing about LOW_FPS
    assert "LOW_FPS" not in {a for a, _, _ in _alerts_in(alertmanager.notifications())}
