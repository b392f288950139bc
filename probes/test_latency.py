"""Latency SLA: per endpoint, on a warm connection, judged on the tail with stated confidence.

Requests go out on a fixed schedule and latency counts from when each was
due (coordinated omission corrected, see `Schedule`). Sampling is
sequential: start with the profile's minimum, add batches until
the binomial verdict is confident either way or the maximum is reached, so
a clear breach stops early and a clean endpoint is not judged on 10 lucky
requests. The mean is printed beside the percentile to show when it lies.
"""

from __future__ import annotations

import pytest

from probes.checks import ProbeFailure
from probes.client import ProbeClient
from probes.exchange import Exchange
from probes.plugin import RUN, ProbeContext, Run
from probes.profile import Endpoint
from probes.schedule import Schedule
from probes.stats import Decision, latency_verdict, summarize

HEALTH = Endpoint(method="GET", path="/health", auth=False)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    run = metafunc.config.stash.get(RUN, None)
    if run is None or "endpoint" not in metafunc.fixturenames:
        return
    params = [
        pytest.param(
            e, id=e.key.replace(" ", ""), marks=[pytest.mark.mutating] if e.mutating else []
        )
        for e in run.profile.endpoints
    ]
    metafunc.parametrize("endpoint", params)


def _measure(client: ProbeClient, endpoint: Endpoint, scene: str, run: Run) -> Schedule:
    sla = run.profile.sla
    limit = run.profile.rate_limit
    body = endpoint.body_for(scene) if endpoint.body else None
    # Half the paced budget, so a concurrent xdist worker keeps the other half.
    schedule = Schedule(interval_s=2 / (limit.rate_per_second * limit.pace_ratio))

    def send() -> Exchange:
        return client.request(endpoint.method, endpoint.path, json_body=body)

    timeout_ms = run.profile.request_timeout_s * 1000
    send()  # warm the connection; not a sample
    for _ in range(sla.min_samples):
        schedule.run(send, timeout_ms)
    while len(schedule.corrected) < sla.max_samples:
        verdict = latency_verdict(
            schedule.corrected, threshold_ms=sla.threshold_ms, percentile_q=sla.percentile,
            confidence=sla.confidence,
        )  # fmt: skip
        if verdict.decision is not Decision.INCONCLUSIVE:
            break
        for _ in range(min(sla.batch, sla.max_samples - len(schedule.corrected))):
            schedule.run(send, timeout_ms)
    return schedule


def _judge(schedule: Schedule, what: str, run: Run, probe: ProbeContext) -> None:
    sla = run.profile.sla
    samples = schedule.corrected
    summary = summarize(samples)
    closed_loop = summarize(schedule.uncorrected)
    verdict = latency_verdict(
        samples,
        threshold_ms=sla.threshold_ms,
        percentile_q=sla.percentile,
        confidence=sla.confidence,
    )
    probe.measured(
        {
            "samples": summary.samples,
            "p50_ms": round(summary.p50_ms, 2),
            "p95_ms": round(summary.p95_ms, 2),
            "p99_ms": round(summary.p99_ms, 2),
            "max_ms": round(summary.max_ms, 2),
            "mean_ms": round(summary.mean_ms, 2),
            "uncorrected_p95_ms": round(closed_loop.p95_ms, 2),
            "uncorrected_p99_ms": round(closed_loop.p99_ms, 2),
            "interval_ms": round(schedule.interval_s * 1000, 2),
            "exceeding": verdict.exceeding,
            "threshold_ms": sla.threshold_ms,
            "percentile": sla.percentile,
            "decision": verdict.decision.value,
            "verdict": ("breach" if verdict.breached else "met") + f" ({verdict.decision.value})",
        }
    )
    if verdict.breached:
        raise ProbeFailure(
            f"{what}: {verdict.describe()} (mean {summary.mean_ms:.1f} ms, "
            f"p99 {summary.p99_ms:.1f} ms, max {summary.max_ms:.1f} ms; "
            f"closed-loop p95 {closed_loop.p95_ms:.1f} ms)",
            measured=verdict.observed_ms,
            limit=sla.threshold_ms,
        )


def test_latency_sla(
    st_run: Run, st_client: ProbeClient, scene_guard: str, endpoint: Endpoint, probe: ProbeContext
) -> None:
    probe.about(endpoint.method, endpoint.path)
    schedule = _measure(st_client, endpoint, scene_guard, st_run)
    _judge(schedule, f"{endpoint.key} latency", st_run, probe)


def test_manager_health_latency_sla(
    st_run: Run, st_manager: ProbeClient, probe: ProbeContext
) -> None:
    probe.about(HEALTH.method, HEALTH.path)
    schedule = _measure(st_manager, HEALTH, "", st_run)
    _judge(schedule, "manager GET /health latency", st_run, probe)
