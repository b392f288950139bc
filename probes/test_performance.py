"""/performance thresholds of seed 000 (FPS, memory, cache hit rate), with severities.

The profile's `performance.fail_at` sets the lowest severity that fails the
probe; every breach, failing or not, is recorded with its severity.
"""

from __future__ import annotations

import pytest

from probes import checks, thresholds
from probes.checks import ProbeFailure
from probes.client import ProbeClient
from probes.plan import Cost
from probes.run import ProbeContext, Run


@pytest.mark.parametrize("metric", thresholds.METRICS)
def test_performance_threshold(
    st_run: Run, st_client: ProbeClient, metric: str, probe: ProbeContext
) -> None:
    probe.about("GET", "/performance")
    exchange = st_client.request("GET", "/performance", expect={200})
    what = f"GET /performance {metric}"
    checks.status_is(exchange, 200, what)
    document = checks.json_body(exchange, what)
    try:
        breach = thresholds.worst_breach(document, metric)
    except (KeyError, TypeError) as exc:
        raise ProbeFailure(f"{what}: cannot read the metric ({exc})", exchange=exchange) from None
    value = thresholds.lookup(document, metric)
    probe.measured(
        {"metric": metric, "value": value, "severity": breach.severity if breach else None}
    )
    if breach is not None and thresholds.fails_at(breach, st_run.profile.performance.fail_at):
        raise ProbeFailure(
            f"{what}: {breach.describe()}", exchange=exchange, measured=value, limit=breach.limit
        )


def planned_requests(run: Run, tests: list[tuple[str, str]]) -> Cost:
    """One GET /performance per metric."""
    return Cost.exactly(len(tests))
