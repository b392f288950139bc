"""Health: the manager's /health status code agrees with its body; /status is well formed.

A monitor reads only the status code, a human reads only the body: when
they disagree, one of them is lied to.
"""

from __future__ import annotations

from probes import checks, schemas
from probes.checks import ProbeFailure
from probes.client import ProbeClient
from probes.httpmetrics import HttpFacts
from probes.plan import Cost
from probes.run import ProbeContext, Run


def test_health_code_matches_body(st_manager: ProbeClient, probe: ProbeContext) -> None:
    probe.about("GET", "/health")
    exchange = st_manager.request("GET", "/health", expect={200, 503})
    what = "manager GET /health"
    checks.answered(exchange, what)
    checks.json_content_type(exchange, what)
    body = checks.json_body(exchange, what)
    problem = schemas.violations(schemas.Health, body)
    if problem is not None:
        raise ProbeFailure(
            f"{what}: body does not match the contract: {problem}", exchange=exchange
        )
    healthy = body["overall_healthy"]
    if healthy and exchange.status != 200:
        raise ProbeFailure(
            f"{what}: overall_healthy is true but the status is {exchange.status}",
            exchange=exchange,
        )
    if not healthy and exchange.status != 503:
        raise ProbeFailure(
            f"{what}: overall_healthy is false but the status is {exchange.status}, expected 503",
            exchange=exchange,
        )
    if not healthy and not body["blocking_issues"]:
        raise ProbeFailure(
            f"{what}: unhealthy (503) with no blocking_issues to say why", exchange=exchange
        )


def test_system_healthy(st_manager: ProbeClient, probe: ProbeContext) -> None:
    probe.about("GET", "/health")
    exchange = st_manager.request("GET", "/health", expect={200})
    # What a blackbox http_2xx module on /health would judge: the export's probe_success.
    probe.measured(HttpFacts.of(exchange).to_measured())
    what = "manager GET /health"
    checks.answered(exchange, what)
    body = checks.json_body(exchange, what)
    issues = body.get("blocking_issues") if isinstance(body, dict) else None
    if exchange.status != 200 or not (
        isinstance(body, dict) and body.get("overall_healthy") is True
    ):
        raise ProbeFailure(
            f"{what}: system not healthy (status {exchange.status}, blocking issues: {issues})",
            exchange=exchange,
        )


def test_status_services(st_client: ProbeClient, probe: ProbeContext) -> None:
    probe.about("GET", "/status")
    exchange = st_client.request("GET", "/status", authorization=None, expect={200})
    probe.measured(HttpFacts.of(exchange).to_measured())
    what = "GET /status (no token)"
    checks.status_is(exchange, 200, what)
    checks.json_content_type(exchange, what)
    problem = schemas.violations(schemas.Status, checks.json_body(exchange, what))
    if problem is not None:
        raise ProbeFailure(
            f"{what}: body does not match the contract: {problem}", exchange=exchange
        )


def planned_requests(run: Run, tests: list[tuple[str, str]]) -> Cost:
    """One request per probe."""
    return Cost.exactly(len(tests))
