"""Health API: /health, liveness and readiness tell one story (seed 004's VTT contract).

The shape of `/health`, its status code against its own `status`, the
status against the checks, readiness against the critical checks (503 while
one fails), liveness independent of dependencies (a database outage must not
restart every pod), the service's health itself, and the response-time
thresholds the seed names (warning > 2 s, critical > 5 s), both as measured
here and as the checks report them. Paths, critical checks, thresholds and
the severity that fails come from the profile's `health_api` section.
"""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from probes import checks, healthdoc, schemas
from probes.checks import ProbeFailure
from probes.client import ProbeClient
from probes.exchange import Exchange
from probes.plan import Cost
from probes.profile import HealthApi, fails_at
from probes.run import ProbeContext, Run


def _api(run: Run) -> HealthApi:
    return run.profile.health_api


def _health(client: ProbeClient, api: HealthApi) -> tuple[Exchange, dict[str, Any]]:
    """GET the health document; any answer that is not the contract's shape fails here."""
    exchange = client.request("GET", api.health_path, expect={200, 503})
    what = f"GET {api.health_path}"
    checks.answered(exchange, what)
    checks.json_content_type(exchange, what)
    body = checks.json_body(exchange, what)
    problem = schemas.violations(schemas.VttHealth, body)
    if problem is not None:
        raise ProbeFailure(
            f"{what}: body does not match the health contract: {problem}", exchange=exchange
        )
    return exchange, body


def _critical_failing(body: dict[str, Any], api: HealthApi) -> list[str]:
    return [name for name in healthdoc.failing_checks(body) if name in api.critical_checks]


def test_health_schema(st_run: Run, st_client: ProbeClient, probe: ProbeContext) -> None:
    api = _api(st_run)
    probe.about("GET", api.health_path)
    _, body = _health(st_client, api)
    probe.measured({"status": body["status"], "checks": sorted(body["checks"])})


def test_health_status_code(st_run: Run, st_client: ProbeClient, probe: ProbeContext) -> None:
    api = _api(st_run)
    probe.about("GET", api.health_path)
    exchange, body = _health(st_client, api)
    problem = healthdoc.health_code_problem(body["status"], exchange.status)
    if problem is not None:
        raise ProbeFailure(f"GET {api.health_path}: {problem}", exchange=exchange)


def test_status_consistent_with_checks(
    st_run: Run, st_client: ProbeClient, probe: ProbeContext
) -> None:
    api = _api(st_run)
    probe.about("GET", api.health_path)
    exchange, body = _health(st_client, api)
    problem = healthdoc.consistency_problem(body, api.critical_checks)
    if problem is not None:
        raise ProbeFailure(f"GET {api.health_path}: {problem}", exchange=exchange)


def test_readiness_follows_critical_checks(
    st_run: Run, st_client: ProbeClient, probe: ProbeContext
) -> None:
    api = _api(st_run)
    probe.about("GET", api.ready_path)
    _, body = _health(st_client, api)
    critical = _critical_failing(body, api)
    exchange = st_client.request("GET", api.ready_path, expect={503} if critical else {200})
    checks.answered(exchange, f"GET {api.ready_path}")
    probe.measured({"critical_failing": critical, "ready_status": exchange.status})
    problem = healthdoc.readiness_problem(exchange.status, critical)
    if problem is not None:
        raise ProbeFailure(f"GET {api.ready_path}: {problem}", exchange=exchange)


def test_liveness_ignores_dependencies(
    st_run: Run, st_client: ProbeClient, probe: ProbeContext
) -> None:
    api = _api(st_run)
    probe.about("GET", api.live_path)
    _, body = _health(st_client, api)
    failing = healthdoc.failing_checks(body)
    exchange = st_client.request("GET", api.live_path, expect={200})
    checks.answered(exchange, f"GET {api.live_path}")
    probe.measured({"failing_checks": failing, "live_status": exchange.status})
    problem = healthdoc.liveness_problem(exchange.status, failing)
    if problem is not None:
        raise ProbeFailure(f"GET {api.live_path}: {problem}", exchange=exchange)


def test_service_healthy(st_run: Run, st_client: ProbeClient, probe: ProbeContext) -> None:
    api = _api(st_run)
    probe.about("GET", api.health_path)
    exchange, body = _health(st_client, api)
    severity = healthdoc.status_severity(body["status"])
    failing = healthdoc.failing_checks(body)
    probe.measured({"status": body["status"], "severity": severity, "failing_checks": failing})
    if fails_at(severity, api.fail_at):
        raise ProbeFailure(
            f"GET {api.health_path}: service {body['status']} ({severity}); failing checks: "
            f"{', '.join(failing) or 'none'}",
            exchange=exchange,
        )


@pytest.mark.parametrize("endpoint", ["health", "live", "ready"])
def test_response_time(
    st_run: Run, st_client: ProbeClient, endpoint: str, probe: ProbeContext
) -> None:
    api = _api(st_run)
    path = getattr(api, f"{endpoint}_path")
    probe.about("GET", path)
    latencies = []
    for _ in range(api.samples):
        exchange = st_client.request("GET", path, expect={200, 503})
        checks.answered(exchange, f"GET {path}")
        latencies.append(exchange.latency_ms or 0.0)
    median_ms = statistics.median(latencies)
    levels = api.response_time_ms
    severity = levels.severity(median_ms)
    probe.measured(
        {"median_ms": round(median_ms, 2), "max_ms": round(max(latencies), 2),
         "samples": len(latencies), "severity": severity}
    )  # fmt: skip
    if severity is not None and fails_at(severity, api.fail_at):
        raise ProbeFailure(
            f"GET {path}: median response time {median_ms:.0f} ms over {len(latencies)} "
            f"requests breaches {severity} (> {levels.limit(severity):g} ms)",
            measured=median_ms,
            limit=levels.limit(severity),
        )


def test_reported_check_times(st_run: Run, st_client: ProbeClient, probe: ProbeContext) -> None:
    api = _api(st_run)
    probe.about("GET", api.health_path)
    exchange, body = _health(st_client, api)
    levels = api.response_time_ms
    reported = {
        name: check["responseTime"]
        for name, check in body["checks"].items()
        if check.get("responseTime") is not None
    }
    probe.measured({"response_time_ms": reported})
    breaches = [
        (name, value, levels.severity(value))
        for name, value in sorted(reported.items())
        if fails_at(levels.severity(value), api.fail_at)
    ]
    if breaches:
        shown = ", ".join(f"{name} {value:g} ms ({severity})" for name, value, severity in breaches)
        raise ProbeFailure(
            f"GET {api.health_path}: checks report slow responses: {shown} "
            f"({levels.describe(' ms')})",
            exchange=exchange,
        )


# Probes that read the health document and then one more path.
_TWO_REQUESTS = frozenset(
    {"test_readiness_follows_critical_checks", "test_liveness_ignores_dependencies"}
)


def planned_requests(run: Run, tests: list[tuple[str, str]]) -> Cost:
    """The health document per probe; readiness and liveness one more; the response-time
    probes `samples` each."""
    api = _api(run)
    count = 0
    for function, _ in tests:
        if function == "test_response_time":
            count += api.samples
        else:
            count += 2 if function in _TWO_REQUESTS else 1
    return Cost.exactly(count)
