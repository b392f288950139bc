"""The reference server's VTT mode: the conforming contract, real metrics, and every VTT
fault proven both ways (its check passes with the fault and fails without it)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import ROOT, refserver

from probes import exposition
from refserver.config import ConfigError, Settings
from refserver.faults import FAULTS

VTT_FAULTS = sorted(name for name, fault in FAULTS.items() if fault.mode == "vtt")


def _scrape(h: Any) -> exposition.Scrape:
    response = h.get("/api/metrics/prometheus")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return exposition.parse(response.text)


# --- the conforming contract ---------------------------------------------------------------


def test_health_document(make_vtt: Any) -> None:
    response = make_vtt().get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy" and body["version"] == "1.2.0"
    assert isinstance(body["uptime"], int) and body["timestamp"] > 1_600_000_000_000
    assert body["checks"]["database"]["status"] == "pass"
    assert body["checks"]["database"]["responseTime"] >= 0
    assert body["checks"]["memory"]["message"].startswith("Memory usage: ")


def test_live_ready_and_metrics_json(make_vtt: Any) -> None:
    h = make_vtt()
    assert h.get("/api/health/live").json()["status"] == "alive"
    assert h.get("/api/health/ready").json() == {
        "status": "ready", "checks": {"database": "pass", "memory": "pass"}
    }  # fmt: skip
    denied = h.get("/api/metrics")
    assert denied.status_code == 401 and denied.headers["www-authenticate"].startswith("Bearer")
    assert set(denied.json()) == {"error", "message"}
    document = h.get("/api/metrics", authorized=True).json()
    assert document["requests"]["total"] >= 3 and document["requests"]["errors"] == 0
    assert h.get("/nope").json()["error"] == "not_found"


def test_rate_limit_before_auth(make_vtt: Any) -> None:
    h = make_vtt(burst=2, rate_per_second=0.01)
    assert [h.get("/api/metrics").status_code for _ in range(3)] == [401, 401, 429]
    assert h.get("/api/health").headers["retry-after"].isdigit()


@pytest.mark.parametrize(
    ("failing", "status", "health_code", "ready_code"),
    [("database", "unhealthy", 503, 503), ("memory", "degraded", 200, 200)],
)
def test_failing_checks_are_reported_honestly(
    make_vtt: Any, failing: str, status: str, health_code: int, ready_code: int
) -> None:
    h = make_vtt(failing_checks=frozenset({failing}))
    health = h.get("/api/health")
    assert (health.status_code, health.json()["status"]) == (health_code, status)
    assert health.json()["checks"][failing]["status"] == "fail"
    assert h.get("/api/health/ready").status_code == ready_code
    assert h.get("/api/health/live").status_code == 200


def test_metrics_move_with_real_traffic(make_vtt: Any) -> None:
    h = make_vtt()
    before = _scrape(h)
    for _ in range(5):
        h.get("/api/health")
        h.get("/api/metrics")  # 401
    after = _scrape(h)
    assert exposition.counter_delta(before, after, "http_requests_total") == 11  # + 1 scrape
    statuses = {dict(labels)["status"] for labels in after.series("http_requests_total")}
    assert {"200", "401"} <= statuses
    assert exposition.decreases(before, after) == []
    buckets = exposition.bucket_deltas(before, after, "http_request_duration_seconds")
    assert buckets[-1] == (float("inf"), 11.0)
    assert exposition.error_ratio(before, after, "http_requests_total", "status").value == 0
    family = after.family("http_request_duration_seconds")
    assert family is not None and exposition.histogram_problems(family) == []
    assert after.family("process_start_time_seconds") is not None


def test_settings_refuse_misplaced_faults_and_checks() -> None:
    with pytest.raises(ConfigError, match="applies to --mode vtt"):
        Settings(faults=frozenset({"vtt-health-slow"}))
    with pytest.raises(ConfigError, match="applies to --mode spacetime"):
        Settings(mode="vtt", faults=frozenset({"auth-403"}))
    with pytest.raises(ConfigError, match="applies to --mode vtt"):
        Settings(failing_checks=frozenset({"database"}))
    with pytest.raises(ConfigError, match="unknown health check 'disk'"):
        Settings(mode="vtt", failing_checks=frozenset({"disk"}))


# --- every VTT fault, both ways --------------------------------------------------------------

Check = Callable[[Any], None]
CHECKS: dict[str, Check] = {}


def check(name: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS[name] = fn
        return fn

    return register


@check("vtt-ready-200-when-unhealthy")
def _(h: Any) -> None:
    assert h.get("/api/health").json()["status"] == "unhealthy"
    assert h.get("/api/health/ready").status_code == 200


@check("vtt-live-fails-on-critical")
def _(h: Any) -> None:
    assert h.get("/api/health").json()["checks"]["database"]["status"] == "fail"
    assert h.get("/api/health/live").status_code == 503


@check("vtt-status-inconsistent")
def _(h: Any) -> None:
    body = h.get("/api/health").json()
    assert body["status"] == "healthy" and body["checks"]["database"]["status"] == "fail"


@check("vtt-unhealthy-200")
def _(h: Any) -> None:
    response = h.get("/api/health")
    assert response.json()["status"] == "unhealthy" and response.status_code == 200


@check("vtt-health-slow")
def _(h: Any) -> None:
    started = time.perf_counter()
    body = h.get("/api/health").json()
    assert time.perf_counter() - started > 2.0
    assert body["checks"]["database"]["responseTime"] > 2000


@check("vtt-schema-missing-version")
def _(h: Any) -> None:
    assert "version" not in h.get("/api/health").json()


@check("metrics-not-prometheus-text")
def _(h: Any) -> None:
    response = h.get("/api/metrics/prometheus")
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(exposition.ExpositionError):
        exposition.parse(response.text)


@check("metrics-counter-reset")
def _(h: Any) -> None:
    h.get("/api/health")
    before = _scrape(h)
    after = _scrape(h)
    assert exposition.decreases(before, after)


@check("metrics-missing-family")
def _(h: Any) -> None:
    assert _scrape(h).family("http_request_duration_seconds") is None


@check("metrics-histogram-no-inf")
def _(h: Any) -> None:
    h.get("/api/health")
    family = _scrape(h).family("http_request_duration_seconds")
    assert family is not None
    assert any("+Inf" in problem for problem in exposition.histogram_problems(family))


@check("metrics-high-5xx")
def _(h: Any) -> None:
    codes = [h.get("/api/metrics", authorized=True).status_code for _ in range(3)]
    assert codes == [500, 500, 200]


@check("metrics-slow-p95")
def _(h: Any) -> None:
    before = _scrape(h)
    for _ in range(2):
        h.get("/api/metrics", authorized=True)
    buckets = exposition.bucket_deltas(before, _scrape(h), "http_request_duration_seconds")
    p95 = exposition.histogram_quantile(0.95, buckets)
    assert p95 is not None and p95 > 1.0


def test_every_vtt_fault_has_a_check() -> None:
    assert set(CHECKS) == set(VTT_FAULTS)


@pytest.mark.parametrize("name", VTT_FAULTS)
def test_vtt_fault_is_observable(name: str, make_vtt: Any) -> None:
    CHECKS[name](make_vtt(name))


@pytest.mark.parametrize("name", VTT_FAULTS)
def test_vtt_check_fails_against_the_conforming_server(name: str, make_vtt: Any) -> None:
    with pytest.raises(AssertionError):
        CHECKS[name](make_vtt())


# --- the command line ----------------------------------------------------------------------


def test_list_faults_names_the_mode() -> None:
    listing = subprocess.run(
        [sys.executable, "-m", "refserver", "--list-faults"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    modes = {line.split("\t")[0]: line.split("\t")[3] for line in listing.stdout.splitlines()}
    assert modes["auth-403"] == "spacetime" and modes["vtt-health-slow"] == "vtt"
    assert {modes[name] for name in VTT_FAULTS} == {"vtt"}


@pytest.mark.integration
def test_serves_vtt_mode_from_the_command_line(tmp_path: Path) -> None:
    args = ("--mode", "vtt", "--vtt-failing-check", "memory")
    with refserver(tmp_path, *args) as server, httpx.Client(timeout=5) as client:
        health = client.get(f"{server.base_url}/api/health")
        nothing = client.get(f"{server.manager_url}/health")
    assert health.json()["status"] == "degraded"
    assert nothing.status_code == 404


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "soap"], "not a mode: 'soap'"),
        (["--fault", "vtt-health-slow"], "fault 'vtt-health-slow' applies to --mode vtt"),
        (["--mode", "vtt", "--vtt-failing-check", "disk"], "unknown health check 'disk'"),
    ],
)
def test_bad_mode_options_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "refserver", "--port", "0", "--manager-port", "0", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
